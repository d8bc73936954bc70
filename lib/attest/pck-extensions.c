/* placeholder: being written */
#include <attest/claims.h>
