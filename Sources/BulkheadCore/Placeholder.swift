import CBulkhead
