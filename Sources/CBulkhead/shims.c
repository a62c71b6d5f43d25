#include "CBulkhead.h"
