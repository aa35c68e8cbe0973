/* receipt: checks on the receipt model and money formatting (see receipt.h). */
#include "printing/receipt.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PENCE_PER_POUND 100

/* Writes a formatted message into why if there is room; always returns false. */
__attribute__((format(printf, 3, 4))) static bool fail(char *why, size_t why_len, const char *fmt,
                                                       ...)
{
    if (why != NULL && why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool within(const char *s, size_t max)
{
    return s == NULL || strnlen(s, max + 1) <= max;
}

bool receipt_check(const struct receipt *r, char *why, size_t why_len)
{
    if (r == NULL) {
        return fail(why, why_len, "no receipt");
    }
    if (r->reference == NULL || r->reference[0] == '\0') {
        return fail(why, why_len, "receipt has no reference");
    }
    const struct {
        const char *name;
        const char *value;
        size_t max;
    } fields[] = {
        {"council", r->council, RECEIPT_FIELD_MAX},
        {"site", r->site, RECEIPT_FIELD_MAX},
        {"banner", r->banner, RECEIPT_FIELD_MAX},
        {"counter_id", r->counter_id, RECEIPT_FIELD_MAX},
        {"assistant_initials", r->assistant_initials, RECEIPT_FIELD_MAX},
        {"service_name", r->service_name, RECEIPT_FIELD_MAX},
        {"reference", r->reference, RECEIPT_FIELD_MAX},
        {"next_steps", r->next_steps, RECEIPT_PARAGRAPH_MAX},
        {"status_url", r->status_url, RECEIPT_URL_MAX},
        {"status_text", r->status_text, RECEIPT_URL_MAX},
        {"footer", r->footer, RECEIPT_PARAGRAPH_MAX},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (!within(fields[i].value, fields[i].max)) {
            return fail(why, why_len, "%s is longer than %zu bytes", fields[i].name, fields[i].max);
        }
    }
    if (r->handoff != NULL) {
        const struct receipt_handoff *h = r->handoff;
        if (h->ubrn == NULL || strlen(h->ubrn) != RECEIPT_UBRN_DIGITS ||
            strspn(h->ubrn, "0123456789") != RECEIPT_UBRN_DIGITS) {
            return fail(why, why_len, "the hand-off's UBRN is not 12 digits");
        }
        if (h->nhs_last3 == NULL || strlen(h->nhs_last3) != 3 ||
            strspn(h->nhs_last3, "0123456789") != 3) {
            return fail(why, why_len, "the hand-off's NHS number digits are not 3 digits");
        }
        if (!within(h->state_label, RECEIPT_FIELD_MAX) || !within(h->priority, RECEIPT_FIELD_MAX)) {
            return fail(why, why_len, "the hand-off's state or priority is too long");
        }
    }
    if (r->n_lines > RECEIPT_MAX_LINES) {
        return fail(why, why_len, "%zu fee lines (at most %d)", r->n_lines, RECEIPT_MAX_LINES);
    }
    if (r->n_lines > 0 && r->lines == NULL) {
        return fail(why, why_len, "fee lines missing");
    }
    for (size_t i = 0; i < r->n_lines; i++) {
        if (r->lines[i].description == NULL ||
            !within(r->lines[i].description, RECEIPT_FIELD_MAX)) {
            return fail(why, why_len, "fee line %zu has no description or a too long one", i + 1);
        }
    }
    switch (r->payment) {
    case RECEIPT_PAYMENT_NONE:
    case RECEIPT_PAYMENT_CASH:
    case RECEIPT_PAYMENT_CARD:
    case RECEIPT_PAYMENT_CHEQUE:
    case RECEIPT_PAYMENT_WAIVED:
    case RECEIPT_PAYMENT_NOT_A_SALE:
        break;
    default:
        return fail(why, why_len, "unknown payment method %d", (int)r->payment);
    }
    return true;
}

bool receipt_format_money(int64_t pence, char *buf, size_t len)
{
    /* Work in unsigned so INT64_MIN has a magnitude too. */
    uint64_t magnitude = pence < 0 ? (uint64_t)0 - (uint64_t)pence : (uint64_t)pence;
    int n = snprintf(buf, len, "%s\xc2\xa3%" PRIu64 ".%02" PRIu64, pence < 0 ? "-" : "",
                     magnitude / PENCE_PER_POUND, magnitude % PENCE_PER_POUND);
    if (n < 0 || (size_t)n >= len) {
        if (len > 0) {
            buf[0] = '\0';
        }
        return false;
    }
    return true;
}

const char *receipt_payment_name(enum receipt_payment p)
{
    switch (p) {
    case RECEIPT_PAYMENT_NONE:
        return "No charge";
    case RECEIPT_PAYMENT_CASH:
        return "Cash";
    case RECEIPT_PAYMENT_CARD:
        return "Card";
    case RECEIPT_PAYMENT_CHEQUE:
        return "Cheque";
    case RECEIPT_PAYMENT_WAIVED:
        return "Fee waived";
    case RECEIPT_PAYMENT_NOT_A_SALE:
        return "";
    }
    return "Unknown";
}

static const struct receipt_labels ENGLISH = {
    .language = "en",
    .rtl = false,
    .copy_receipt = "COPY RECEIPT",
    .date = "Date",
    .counter = "Counter",
    .served_by = "Served by",
    .your_reference = "Your reference",
    .quote_it = "Please quote it if you contact us",
    .total = "Total",
    .paid_by = "Paid by",
    .payment = "Payment",
    .tendered = "Tendered",
    .change = "Change",
    .what_next = "What happens next",
    .scan = "Scan to see how your request is going",
    .method_none = "No charge",
    .method_cash = "Cash",
    .method_card = "Card",
    .method_cheque = "Cheque",
    .method_waived = "Fee waived",
    .qr_alt = "QR code linking to the status page of reference {reference}",
};

const struct receipt_labels *receipt_labels_english(void)
{
    return &ENGLISH;
}

const char *receipt_payment_label(const struct receipt_labels *labels, enum receipt_payment p)
{
    const struct receipt_labels *l = labels != NULL ? labels : &ENGLISH;
    switch (p) {
    case RECEIPT_PAYMENT_NONE:
        return l->method_none;
    case RECEIPT_PAYMENT_CASH:
        return l->method_cash;
    case RECEIPT_PAYMENT_CARD:
        return l->method_card;
    case RECEIPT_PAYMENT_CHEQUE:
        return l->method_cheque;
    case RECEIPT_PAYMENT_WAIVED:
        return l->method_waived;
    case RECEIPT_PAYMENT_NOT_A_SALE:
        return "";
    }
    return receipt_payment_name(p);
}

enum receipt_payment receipt_payment_of_method(const char *method)
{
    static const struct {
        const char *method;
        enum receipt_payment payment;
    } methods[] = {{"cash", RECEIPT_PAYMENT_CASH},
                   {"card", RECEIPT_PAYMENT_CARD},
                   {"cheque", RECEIPT_PAYMENT_CHEQUE},
                   {"waived", RECEIPT_PAYMENT_WAIVED}};
    for (size_t i = 0; method && i < sizeof methods / sizeof methods[0]; i++) {
        if (strcmp(method, methods[i].method) == 0)
            return methods[i].payment;
    }
    return RECEIPT_PAYMENT_NONE;
}
