/* The public ABI header, re-exported to Swift. */
#include "../../../include/bulkhead/bulkhead.h"
