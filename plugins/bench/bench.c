/*
 * bench — adds two integers. It exists to measure the server, not the
 * plugin: this is the hot path of the project's benchmark, so it does the
 * least a correct tool can do — two argument reads, one overflow check, one
 * text block whose text is just the decimal sum — and keeps no state, so the
 * core may call it from any number of threads at once.
 *
 * Trust domain: none worth the name; it reads and changes nothing.
 */
#include <bulkhead/bulkhead.h>

#include <inttypes.h>
#include <stdio.h>

static bh_status add(const bh_host_api *host, bh_call call, void *user_data)
{
    (void)user_data;
    int64_t a, b;
    bh_status sa = host->arg_int(call, BH_LIT("a"), &a);
    bh_status sb = host->arg_int(call, BH_LIT("b"), &b);
    if (sa != BH_OK || sb != BH_OK) {
        if (sa == BH_E_STALE || sb == BH_E_STALE)
            return BH_E_STALE;
        return sa != BH_OK
                   ? host->result_error(call, BH_ERROR_INVALID_ARGUMENT, BH_LIT("a must be an integer"))
                   : host->result_error(call, BH_ERROR_INVALID_ARGUMENT, BH_LIT("b must be an integer"));
    }
    /* Signed overflow is undefined behaviour in C: check before adding. */
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return host->result_error(call, BH_ERROR_INVALID_ARGUMENT,
                                  BH_LIT("a + b does not fit in a 64-bit integer"));
    char text[24]; /* "-9223372036854775808" is 20 characters */
    int n = snprintf(text, sizeof text, "%" PRId64, a + b);
    return host->result_text(call, text, (size_t)n);
}

BULKHEAD_PLUGIN_ABI()

bh_status bulkhead_plugin_init(const bh_host_api *host, bh_plugin plugin, bh_plugin_def *def)
{
    def->concurrency = BH_CONCURRENCY_PARALLEL; /* add keeps no state */
    return host->register_tool(plugin, BH_LIT("add"), add, NULL);
}
