/* placeholder: being written */
#include "test.h"
TEST(placeholder) { CHECK(1); }
TEST_MAIN(TEST_CASE(placeholder))
