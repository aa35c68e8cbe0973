/* routes: the one table mapping method and path to handler and who may call it.
 * Access levels (gateway/http/access.c): public; reader = any signed-in role, the auditor
 * included; staff = counter staff (not the auditor); supervisor; oversight = supervisor or
 * auditor; admin. Reads of transactions are further scoped to the session's site by their
 * handlers. `onestopd --routes` prints this table; tests/system/test_access.py declares the
 * expected outcome of every row for every role. */
#include "gateway/http/routes.h"
#include "gateway/http/receipt_copies.h"

const struct http_route onestop_routes[] = {
    {"GET", "/healthz", route_healthz, HTTP_PUBLIC},
    {"GET", "/readyz", route_readyz, HTTP_PUBLIC},
    {"GET", "/metrics", route_metrics, HTTP_PUBLIC},
    {"GET", "/api/v1/openapi.json", route_openapi, HTTP_PUBLIC},
    {"POST", "/api/v1/sessions", route_session_create, HTTP_PUBLIC},
    {"GET", "/api/v1/sessions/current", route_session_current, HTTP_READER},
    {"DELETE", "/api/v1/sessions/current", route_session_delete, HTTP_READER},
    {"GET", "/api/v1/services", route_services_list, HTTP_READER},
    {"GET", "/api/v1/services/bulky-refuse/slots", route_bulky_slots, HTTP_STAFF},
    {"GET", "/api/v1/addresses", route_addresses, HTTP_STAFF},
    {"GET", "/api/v1/lookups/{}", route_lookup, HTTP_STAFF},
    {"POST", "/api/v1/lookups/{}", route_lookup_write, HTTP_STAFF},
    {"POST", "/api/v1/lookups/slot_holds/{}/release", route_slot_hold_release, HTTP_STAFF},
    {"POST", "/api/v1/referrals/lookup", route_referral_lookup, HTTP_STAFF},
    {"POST", "/api/v1/quotes", route_quote, HTTP_STAFF},
    {"POST", "/api/v1/transactions", route_transaction_create, HTTP_STAFF},
    {"POST", "/api/v1/documents", route_documents_create, HTTP_STAFF},
    {"GET", "/api/v1/transactions", route_transaction_list, HTTP_READER},
    {"GET", "/api/v1/transactions/{}", route_transaction_get, HTTP_READER},
    {"GET", "/api/v1/transactions/{}/status", route_transaction_status, HTTP_READER},
    {"POST", "/api/v1/transactions/{}/retry", route_transaction_retry, HTTP_SUPERVISOR},
    {"POST", "/api/v1/transactions/{}/reprint", route_transaction_reprint, HTTP_STAFF},
    {"GET", "/api/v1/receipt-options", route_receipt_options, HTTP_STAFF},
    {"POST", "/api/v1/transactions/{}/receipt-copies", route_receipt_copies_create, HTTP_STAFF},
    {"GET", "/api/v1/deliveries/failed", route_deliveries_failed, HTTP_OVERSIGHT},
    {"GET", "/api/v1/stock", route_stock_list, HTTP_STAFF},
    {"POST", "/api/v1/stock/deliveries", route_stock_delivery, HTTP_SUPERVISOR},
    {"POST", "/api/v1/callbacks/notify", route_notify_callback, HTTP_PUBLIC}, /* bearer token */
    {"POST", "/api/v1/transactions/{}/void", route_transaction_void, HTTP_SUPERVISOR},
    {"POST", "/api/v1/transactions/{}/refunds", route_transaction_refund, HTTP_SUPERVISOR},
    {"POST", "/api/v1/transactions/{}/cancel", route_transaction_cancel, HTTP_SUPERVISOR},
    {"GET", "/api/v1/till", route_till_get, HTTP_STAFF},
    {"POST", "/api/v1/till/open", route_till_open, HTTP_STAFF},
    {"POST", "/api/v1/till/count", route_till_count, HTTP_STAFF},
    {"POST", "/api/v1/till/cashup", route_till_cashup, HTTP_SUPERVISOR},
    {"GET", "/api/v1/till/slip", route_till_slip, HTTP_STAFF},
    {"GET", "/api/v1/reports/daily", route_report_daily, HTTP_SUPERVISOR},
    {"GET", "/api/v1/reports/monthly", route_report_monthly, HTTP_SUPERVISOR},
    {"POST", "/api/v1/till/paid-in", route_till_paid_in, HTTP_SUPERVISOR},
    {"POST", "/api/v1/till/paid-out", route_till_paid_out, HTTP_SUPERVISOR},
    {"POST", "/api/v1/callbacks/{}", route_callback, HTTP_PUBLIC},
    {"GET", "/r/{}", route_resident_status, HTTP_PUBLIC},
    {"GET", "/*", route_static, HTTP_PUBLIC}, /* the web app; keep last */
    {0},
};

/* Routes whose bodies are streamed to them as they arrive (each is in the table above too). */
const struct http_stream onestop_streams[] = {
    {"POST", "/api/v1/documents", route_documents_body_limit, route_documents_body_deadline_s,
     route_documents_begin, route_documents_data, route_documents_release},
    {0},
};
