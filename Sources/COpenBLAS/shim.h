// The C interface the Tensor module uses: OpenBLAS's CBLAS (sgemm, saxpy, …) and its thread controls.
// Provided by the system package libopenblas-dev (pkg-config name `openblas`).
#include <cblas.h>
