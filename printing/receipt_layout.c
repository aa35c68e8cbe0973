/* receipt_layout: builds the block list every renderer draws (see receipt_layout.h).
 *
 * All text is copied into one fixed arena, cleaned on the way: invalid UTF-8 and
 * control characters become '?', tabs and stray line breaks become spaces. The arena
 * and block array are sized from the model's limits, so receipt_check() passing means
 * the layout always fits; the checks below are a second line of defence. */
#include "printing/receipt_layout.h"

#include "common/uktime.h"

#include <stdio.h>
#include <string.h>

#define HTTPS_PREFIX "https://"

size_t layout_utf8_len(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    if (c == 0) {
        return 0;
    }
    if (c < 0x80) {
        return 1;
    }
    size_t n;
    unsigned int cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not valid. */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

/* Appends a cleaned copy of s (up to max bytes of input) to the arena; returns it, or
 * NULL if the arena is full. Line breaks become spaces unless keep_newlines. */
static const char *arena_add(struct receipt_layout *l, const char *s, bool keep_newlines)
{
    char *start = l->arena + l->used;
    size_t room = sizeof l->arena - l->used;
    size_t o = 0;
    if (s == NULL) {
        s = "";
    }
    while (*s != '\0') {
        size_t n = layout_utf8_len(s);
        const unsigned char c = (unsigned char)*s;
        const char *piece = s;
        size_t piece_len = n;
        char sub;
        if (n == 0) {
            sub = '?';
            piece = &sub;
            piece_len = 1;
            n = 1;
        } else if (n == 1 && (c < 0x20 || c == 0x7F)) {
            sub = (c == '\n' && keep_newlines)            ? '\n'
                  : (c == '\t' || c == '\n' || c == '\r') ? ' '
                                                          : '?';
            piece = &sub;
            piece_len = 1;
        } else if (n == 2 && c == 0xC2 && (unsigned char)s[1] < 0xA0) {
            sub = '?'; /* C1 control characters */
            piece = &sub;
            piece_len = 1;
        }
        if (o + piece_len + 1 > room) {
            return NULL;
        }
        memcpy(start + o, piece, piece_len);
        o += piece_len;
        s += n;
    }
    start[o] = '\0';
    l->used += o + 1;
    return start;
}

static bool add_block(struct receipt_layout *l, enum layout_kind kind, enum layout_style style,
                      enum layout_align align, const char *text, const char *right)
{
    if (l->n >= LAYOUT_MAX_BLOCKS) {
        return false;
    }
    const char *t = arena_add(l, text, false);
    const char *r = right != NULL ? arena_add(l, right, false) : NULL;
    if (t == NULL || (right != NULL && r == NULL)) {
        return false;
    }
    l->blocks[l->n++] = (struct layout_block){kind, style, align, t, r, 0};
    return true;
}

static bool add_text(struct receipt_layout *l, enum layout_style style, enum layout_align align,
                     const char *text)
{
    return add_block(l, LAYOUT_TEXT, style, align, text, NULL);
}

static bool add_row(struct receipt_layout *l, enum layout_style style, const char *left,
                    const char *right)
{
    return add_block(l, LAYOUT_ROW, style, LAYOUT_LEFT, left, right);
}

static bool add_money_row(struct receipt_layout *l, enum layout_style style, const char *left,
                          int64_t pence)
{
    char money[RECEIPT_MONEY_MAX];
    return receipt_format_money(pence, money, sizeof money) && add_row(l, style, left, money);
}

static bool add_mark(struct receipt_layout *l, enum layout_kind kind)
{
    return add_block(l, kind, LAYOUT_NORMAL, LAYOUT_LEFT, "", NULL);
}

/* Marks the block just added as a heading of that level. */
static bool set_level(struct receipt_layout *l, int level)
{
    l->blocks[l->n - 1].level = level;
    return true;
}

static bool has_text(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Adds next_steps as up to LAYOUT_MAX_PARAGRAPHS paragraphs split at '\n'. */
static bool add_paragraphs(struct receipt_layout *l, const char *text)
{
    const char *clean = arena_add(l, text, true);
    if (clean == NULL) {
        return false;
    }
    /* Split in place: the cleaned copy is ours. */
    char *p = (char *)clean;
    for (int count = 0; p != NULL && *p != '\0'; count++) {
        char *nl = strchr(p, '\n');
        if (nl != NULL) {
            if (count + 1 < LAYOUT_MAX_PARAGRAPHS) {
                *nl = '\0';
            } else {
                for (char *q = nl; *q != '\0'; q++) {
                    if (*q == '\n') {
                        *q = ' ';
                    }
                }
                nl = NULL;
            }
        }
        if (*p != '\0') {
            if (l->n >= LAYOUT_MAX_BLOCKS) {
                return false;
            }
            l->blocks[l->n++] =
                (struct layout_block){LAYOUT_TEXT, LAYOUT_NORMAL, LAYOUT_LEFT, p, NULL, 0};
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return true;
}

/* The council, the site, copy_mark on a reprint, and a rule: the top of every receipt. */
static bool add_header(struct receipt_layout *l, const struct receipt *r, const char *copy_mark)
{
    bool ok = true;
    if (has_text(r->council)) {
        ok = ok && add_text(l, LAYOUT_HEADING, LAYOUT_CENTRE, r->council);
        ok = ok && set_level(l, 1);
    }
    if (has_text(r->site)) {
        ok = ok && add_text(l, LAYOUT_NORMAL, LAYOUT_CENTRE, r->site);
    }
    if (r->copy) {
        ok = ok && add_text(l, LAYOUT_BOLD, LAYOUT_CENTRE, copy_mark);
    }
    if (has_text(r->banner)) {
        ok = ok && add_text(l, LAYOUT_HEADING, LAYOUT_CENTRE, r->banner);
    }
    return ok && add_mark(l, LAYOUT_RULE);
}

/* The hand-off slip: what a resident needs to book their NHS referral on a library PC. The
 * UBRN is printed in groups of four in the reference style (as large as fits); the NHS number
 * only as its last 3 digits. */
static bool add_handoff_slip(const struct receipt *r, const char *when, struct receipt_layout *l)
{
    const struct receipt_handoff *h = r->handoff;
    char ubrn[RECEIPT_UBRN_DIGITS + 3], nhs[sizeof "*** *** *000"];
    snprintf(ubrn, sizeof ubrn, "%.4s %.4s %.4s", h->ubrn, h->ubrn + 4, h->ubrn + 8);
    snprintf(nhs, sizeof nhs, "*** *** *%s", h->nhs_last3);
    bool ok = add_header(l, r, "COPY");
    ok = ok && add_text(l, LAYOUT_BOLD, LAYOUT_LEFT, "Your NHS referral");
    ok = ok && add_text(l, LAYOUT_SMALL, LAYOUT_CENTRE, "Booking reference (UBRN)");
    ok = ok && add_text(l, LAYOUT_REFERENCE, LAYOUT_CENTRE, ubrn);
    ok = ok && add_mark(l, LAYOUT_GAP);
    ok = ok && add_row(l, LAYOUT_NORMAL, "Referral",
                       has_text(h->state_label) ? h->state_label : "Not known");
    ok = ok &&
         add_row(l, LAYOUT_NORMAL, "Priority", has_text(h->priority) ? h->priority : "Not given");
    ok = ok && add_row(l, LAYOUT_NORMAL, "NHS number", nhs);
    ok = ok && add_mark(l, LAYOUT_RULE);
    ok = ok && add_text(l, LAYOUT_BOLD, LAYOUT_LEFT, "How to book");
    if (has_text(r->next_steps)) {
        ok = ok && add_paragraphs(l, r->next_steps);
    }
    ok = ok && add_text(l, LAYOUT_NORMAL, LAYOUT_LEFT,
                        "Your password (access code) is on your referral letter. It is not "
                        "printed here: keep it private.");
    ok = ok && add_mark(l, LAYOUT_RULE);
    ok = ok && add_row(l, LAYOUT_NORMAL, "Date", when);
    if (has_text(r->counter_id)) {
        ok = ok && add_row(l, LAYOUT_NORMAL, "Counter", r->counter_id);
    }
    if (has_text(r->assistant_initials)) {
        ok = ok && add_row(l, LAYOUT_NORMAL, "Helped by", r->assistant_initials);
    }
    ok = ok && add_row(l, LAYOUT_SMALL, "Counter reference", r->reference);
    if (has_text(r->footer)) {
        ok = ok && add_mark(l, LAYOUT_RULE);
        ok = ok && add_text(l, LAYOUT_SMALL, LAYOUT_CENTRE, r->footer);
    }
    return ok;
}

bool receipt_layout_build(const struct receipt *r, struct receipt_layout *l, char *why,
                          size_t why_len)
{
    l->n = 0;
    l->used = 0;
    if (!receipt_check(r, why, why_len)) {
        return false;
    }
    char when[UKTIME_TEXT_MAX];
    if (!uktime_format(r->issued_at, when, sizeof when)) {
        snprintf(when, sizeof when, "unknown");
    }
    const struct receipt_labels *L = r->labels != NULL ? r->labels : receipt_labels_english();
    l->rtl = L->rtl;
    l->large = r->size == RECEIPT_SIZE_LARGE;
    if (r->handoff != NULL) {
        if (!add_handoff_slip(r, when, l)) {
            if (why != NULL && why_len > 0) {
                snprintf(why, why_len, "hand-off slip too long to lay out");
            }
            return false;
        }
        return true;
    }
    bool ok = add_header(l, r, L->copy_receipt);
    if (has_text(r->service_name)) {
        ok = ok && add_text(l, LAYOUT_BOLD, LAYOUT_LEFT, r->service_name);
        ok = ok && set_level(l, 2);
    }
    ok = ok && add_row(l, LAYOUT_NORMAL, L->date, when);
    if (has_text(r->counter_id)) {
        ok = ok && add_row(l, LAYOUT_NORMAL, L->counter, r->counter_id);
    }
    if (has_text(r->assistant_initials)) {
        ok = ok && add_row(l, LAYOUT_NORMAL, L->served_by, r->assistant_initials);
    }
    ok = ok && add_mark(l, LAYOUT_GAP);
    ok = ok && add_text(l, LAYOUT_SMALL, LAYOUT_CENTRE, L->your_reference);
    ok = ok && add_text(l, LAYOUT_REFERENCE, LAYOUT_CENTRE, r->reference);
    ok = ok && add_text(l, LAYOUT_SMALL, LAYOUT_CENTRE, L->quote_it);
    ok = ok && add_mark(l, LAYOUT_RULE);
    for (size_t i = 0; ok && i < r->n_lines; i++) {
        ok = add_money_row(l, LAYOUT_NORMAL, r->lines[i].description, r->lines[i].amount_pence);
    }
    ok = ok && add_money_row(l, LAYOUT_BOLD, L->total, r->total_pence);
    switch (r->payment) {
    case RECEIPT_PAYMENT_CASH:
        ok = ok && add_row(l, LAYOUT_NORMAL, L->paid_by, receipt_payment_label(L, r->payment));
        ok = ok && add_money_row(l, LAYOUT_NORMAL, L->tendered, r->tendered_pence);
        ok = ok && add_money_row(l, LAYOUT_NORMAL, L->change, r->change_pence);
        break;
    case RECEIPT_PAYMENT_CARD:
    case RECEIPT_PAYMENT_CHEQUE:
        ok = ok && add_row(l, LAYOUT_NORMAL, L->paid_by, receipt_payment_label(L, r->payment));
        break;
    case RECEIPT_PAYMENT_NONE:
    case RECEIPT_PAYMENT_WAIVED:
        ok = ok && add_row(l, LAYOUT_NORMAL, L->payment, receipt_payment_label(L, r->payment));
        break;
    case RECEIPT_PAYMENT_NOT_A_SALE:
        break;
    }
    if (has_text(r->next_steps)) {
        ok = ok && add_mark(l, LAYOUT_RULE);
        ok = ok && add_text(l, LAYOUT_BOLD, LAYOUT_LEFT, L->what_next);
        ok = ok && set_level(l, 2);
        ok = ok && add_paragraphs(l, r->next_steps);
    }
    if (has_text(r->status_url)) {
        const char *shown = r->status_text;
        if (!has_text(shown)) {
            shown = r->status_url;
            if (strncmp(shown, HTTPS_PREFIX, strlen(HTTPS_PREFIX)) == 0) {
                shown += strlen(HTTPS_PREFIX);
            }
        }
        ok = ok && add_mark(l, LAYOUT_GAP);
        ok = ok && add_text(l, LAYOUT_SMALL, LAYOUT_CENTRE, L->scan);
        /* The URL goes into the QR code byte for byte: no cleaning. */
        if (ok && l->n < LAYOUT_MAX_BLOCKS) {
            size_t len = strlen(r->status_url);
            if (l->used + len + 1 <= sizeof l->arena) {
                char *copy = l->arena + l->used;
                memcpy(copy, r->status_url, len + 1);
                l->used += len + 1;
                l->blocks[l->n++] =
                    (struct layout_block){LAYOUT_QR, LAYOUT_NORMAL, LAYOUT_CENTRE, copy, NULL, 0};
            } else {
                ok = false;
            }
        } else {
            ok = false;
        }
        ok = ok && add_text(l, LAYOUT_SMALL, LAYOUT_CENTRE, shown);
    }
    if (has_text(r->footer)) {
        ok = ok && add_mark(l, LAYOUT_RULE);
        ok = ok && add_text(l, LAYOUT_SMALL, LAYOUT_CENTRE, r->footer);
    }
    if (!ok) {
        if (why != NULL && why_len > 0) {
            snprintf(why, why_len, "receipt too long to lay out");
        }
        return false;
    }
    return true;
}
