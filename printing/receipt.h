/* receipt: what a resident takes away from the counter.
 *
 * The model holds only what the resident needs: who served them, where and when, what
 * they paid for, the reference to quote on the phone, what happens next and a QR code
 * for the status page. It deliberately has no fields for NHS numbers, National
 * Insurance numbers or addresses, so a renderer can never print them: an NHS referral
 * hand-off slip (struct receipt_handoff) carries only the NHS number's last 3 digits.
 *
 * Strings are borrowed (the caller keeps them alive while rendering) and are UTF-8;
 * renderers replace invalid sequences and control characters, so untrusted text cannot
 * inject printer commands. Money is integer pence, printed as "£41.50".
 *
 * The renderers live in receipt_pdf.h (cairo PDF, 80 mm roll or A4) and
 * receipt_escpos.h (ESC/POS bytes for thermal printers).
 */
#ifndef ONESTOP_PRINTING_RECEIPT_H
#define ONESTOP_PRINTING_RECEIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Limits, so a renderer's work is bounded whatever the caller passes. */
#define RECEIPT_MAX_LINES     24   /* fee lines */
#define RECEIPT_FIELD_MAX     200  /* bytes in a one-line field (names, descriptions) */
#define RECEIPT_PARAGRAPH_MAX 1200 /* bytes in "what happens next" and the footer */
#define RECEIPT_URL_MAX       512  /* bytes in the status URL */
#define RECEIPT_MONEY_MAX     24   /* "-£92233720368547758.07" fits */
#define RECEIPT_LABEL_MAX     160  /* bytes in one of struct receipt_labels' words */
#define RECEIPT_LABELS_COUNT  18   /* the words in struct receipt_labels */

enum receipt_paper {
    RECEIPT_PAPER_ROLL_80MM, /* 80 mm thermal roll, page length fitted to the content */
    RECEIPT_PAPER_A4,
};

enum receipt_size {
    RECEIPT_SIZE_STANDARD, /* the usual type sizes */
    RECEIPT_SIZE_LARGE,    /* large print: body text at least 16 pt (ESC/POS: double size) */
};

/* The receipt's fixed words in one language (receipt_text.h loads them from config);
 * NULL in struct receipt means English. */
struct receipt_labels {
    const char *language; /* BCP 47 code: "en", "pl", "ur" */
    bool rtl;             /* written right to left (Urdu, Arabic) */
    const char *copy_receipt, *date, *counter, *served_by, *your_reference, *quote_it, *total,
        *paid_by, *payment, *tendered, *change, *what_next, *scan;
    const char *method_none, *method_cash, *method_card, *method_cheque, *method_waived;
    const char *qr_alt; /* the QR code's alternative text in a tagged PDF, with "{reference}";
                           may be NULL (the English text is used) */
};

enum receipt_payment {
    RECEIPT_PAYMENT_NONE,       /* free service: nothing to pay */
    RECEIPT_PAYMENT_CASH,       /* tendered and change are printed */
    RECEIPT_PAYMENT_CARD,       /* card on the counter's terminal */
    RECEIPT_PAYMENT_CHEQUE,     /* cheque */
    RECEIPT_PAYMENT_WAIVED,     /* fee waived by a supervisor */
    RECEIPT_PAYMENT_NOT_A_SALE, /* a cash-up slip or a report: no payment line at all */
};

/* The payment method as the store names it ("cash", "card", "cheque", "waived") as a receipt's
 * payment; NULL or anything else is RECEIPT_PAYMENT_NONE. */
enum receipt_payment receipt_payment_of_method(const char *method);

struct receipt_line {
    const char *description; /* "Residents' parking permit (12 months)" */
    int64_t amount_pence;    /* may be negative for a discount */
};

/* An NHS referral hand-off: with it the receipt is laid out as a hand-off slip (the UBRN
 * large, the referral's state and priority, how to book through Manage your referral, the
 * NHS number masked but for nhs_last3) instead of a sales receipt. Never a password or
 * access code: the model has no field for one. */
#define RECEIPT_UBRN_DIGITS 12
struct receipt_handoff {
    const char *ubrn;        /* 12 digits (required), printed "0000 0007 0000" */
    const char *state_label; /* "Not booked yet" */
    const char *priority;    /* "Routine" */
    const char *nhs_last3;   /* 3 digits, printed "*** *** *888" */
};

struct receipt {
    const char *council;            /* "Stockport Council" */
    const char *site;               /* "Stockport Direct, Fred Perry House" */
    const char *counter_id;         /* "SD-01" */
    const char *assistant_initials; /* "AB" */
    time_t issued_at;               /* UTC instant; printed in Europe/London time */
    const char *service_name;       /* "Residents' parking permit" */
    const char *reference;          /* printed large: "RP-7K3M9Q2X" (required) */
    const struct receipt_line *lines;
    size_t n_lines;
    int64_t total_pence;
    enum receipt_payment payment;
    int64_t tendered_pence;  /* cash only */
    int64_t change_pence;    /* cash only */
    const char *next_steps;  /* "What happens next" paragraph(s); '\n' starts a new one */
    const char *status_url;  /* encoded in the QR code; NULL or "" prints no QR */
    const char *status_text; /* printed under the QR; NULL: status_url without "https://" */
    const char *footer;      /* small print at the bottom; may be NULL */
    bool copy;               /* a reprint: marked "Copy receipt" */
    const struct receipt_handoff *handoff; /* NULL: a sales receipt */
    enum receipt_size size;                /* standard or large print */
    const struct receipt_labels *labels;   /* fixed words and direction; NULL: English */
    const char *banner; /* a slip for a void or refund: "VOID", printed large; NULL: none */
};

/* The English labels (never NULL). */
const struct receipt_labels *receipt_labels_english(void);

/* Checks the receipt can be rendered: a reference, at most RECEIPT_MAX_LINES lines with
 * descriptions, every string within its limit. On failure writes why into why (if
 * why_len > 0) and returns false. */
bool receipt_check(const struct receipt *r, char *why, size_t why_len)
    __attribute__((warn_unused_result));

/* Formats pence as "£41.50" (UTF-8 pound sign), "-£1.05" for negative amounts.
 * False if buf is too small (RECEIPT_MONEY_MAX always suffices). */
bool receipt_format_money(int64_t pence, char *buf, size_t len) __attribute__((warn_unused_result));

/* "Cash", "Card", "Cheque", "Fee waived", "No charge". Never NULL. */
const char *receipt_payment_name(enum receipt_payment p);

/* The payment method's name in the labels' language (English when labels is NULL). */
const char *receipt_payment_label(const struct receipt_labels *labels, enum receipt_payment p);

#endif
