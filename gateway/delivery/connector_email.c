/* connector_email: RFC 5322 messages from stored payloads (see connector_email.h).
 *
 * DESIGN: the message is written into one capped strbuf: headers first, then the body.
 * Header values are either checked addresses (mail_from, mail_to), fixed text, or payload
 * text that passed email_header_value_ok; a subject that is not plain printable ASCII is sent
 * as RFC 2047 encoded-words (UTF-8, base64), split on character boundaries and folded. The
 * body is built as text with '\n' line ends, then quoted-printable encoded (RFC 2045: lines of
 * at most 76 characters, soft breaks "=", trailing white space encoded), so no byte of a
 * resident's answer ever reaches the wire unencoded. With "attach_json" the stored payload is
 * added as a base64 application/json part; the MIME boundary starts with "=_", which neither
 * quoted-printable nor base64 output can contain. Dot-stuffing of lines that start with '.'
 * is libcurl's job on the SMTP wire. */
#include "gateway/delivery/connector_email.h"

#include "gateway/config.h"
#include "gateway/strbuf.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QP_LINE_MAX         76 /* RFC 2045 */
#define B64_LINE_MAX        76
#define ENCODED_WORD_BYTES  45 /* UTF-8 bytes per encoded-word: 60 base64 characters */
#define PLAIN_SUBJECT_MAX   66 /* "Subject: " + this fits one 78-character line */
#define MESSAGE_ID_HASH_HEX 32
#define TEXT_MAX            (512 * 1024) /* the plain text before encoding */
#define VALUE_TEXT_MAX      64
#define DATE_MAX            40
#define BOUNDARY_MAX        64
#define ATEXT_SPECIALS      "!#$%&'*+-/=?^_`{|}~"

static const char *const payload_keys[] = {"subject", "reference", "service",    "partner",
                                           "consent", "fields",    "attach_json"};

/* ---- checks ---- */

bool email_header_value_ok(const char *v)
{
    if (!v)
        return false;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* letters, digits and the given extra characters, not empty, no leading, trailing or double
 * dot */
static bool dotted_atoms(const char *s, size_t len, const char *extra)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return false;
        } else if (!is_alnum(s[i]) && !strchr(extra, s[i])) {
            return false;
        }
    }
    return true;
}

bool email_address_valid(const char *addr)
{
    if (!addr || strlen(addr) > EMAIL_ADDRESS_MAX)
        return false;
    const char *at = strchr(addr, '@');
    if (!at || strchr(at + 1, '@'))
        return false;
    return dotted_atoms(addr, (size_t)(at - addr), ATEXT_SPECIALS) &&
           dotted_atoms(at + 1, strlen(at + 1), "-");
}

bool email_message_id(const char *idempotency_key, const char *mail_from, char *out, size_t outlen)
{
    const char *at = mail_from ? strchr(mail_from, '@') : NULL;
    if (!idempotency_key || !*idempotency_key || !at)
        return false;
    int n;
    if (dotted_atoms(idempotency_key, strlen(idempotency_key), "-_")) {
        n = snprintf(out, outlen, "<%s@%s>", idempotency_key, at + 1);
    } else {
        static const char hex[] = "0123456789abcdef";
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        char h[MESSAGE_ID_HASH_HEX + 1];
        if (!EVP_Digest(idempotency_key, strlen(idempotency_key), digest, &dlen, EVP_sha256(),
                        NULL) ||
            dlen * 2 < MESSAGE_ID_HASH_HEX)
            return false;
        for (size_t i = 0; i < MESSAGE_ID_HASH_HEX / 2; i++) {
            h[2 * i] = hex[digest[i] >> 4];
            h[2 * i + 1] = hex[digest[i] & 0xf];
        }
        h[MESSAGE_ID_HASH_HEX] = '\0';
        n = snprintf(out, outlen, "<h.%s@%s>", h, at + 1);
    }
    return n > 0 && (size_t)n < outlen;
}

/* ---- encodings ---- */

/* Appends quoted-printable of text ('\n' = line end, written as CRLF). */
static bool append_qp(struct strbuf *out, const char *text, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n') {
            if (!strbuf_append(out, "\r\n", 2))
                return false;
            col = 0;
            continue;
        }
        bool line_end = i + 1 == len || text[i + 1] == '\n';
        char tok[3];
        size_t tlen = 1;
        if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !line_end)) {
            tok[0] = (char)c;
        } else {
            tok[0] = '=';
            tok[1] = hex[c >> 4];
            tok[2] = hex[c & 0xf];
            tlen = 3;
        }
        /* a soft break keeps every line within QP_LINE_MAX including its "=" */
        size_t room = line_end ? QP_LINE_MAX : QP_LINE_MAX - 1;
        if (col + tlen > room) {
            if (!strbuf_append(out, "=\r\n", 3))
                return false;
            col = 0;
        }
        if (!strbuf_append(out, tok, tlen))
            return false;
        col += tlen;
    }
    return true;
}

/* Appends base64 of data in lines of B64_LINE_MAX characters, each ending CRLF. */
static bool append_base64_lines(struct strbuf *out, const unsigned char *data, size_t len)
{
    const size_t chunk = B64_LINE_MAX / 4 * 3;
    unsigned char line[B64_LINE_MAX + 1];
    for (size_t at = 0; at < len; at += chunk) {
        size_t n = len - at < chunk ? len - at : chunk;
        int w = EVP_EncodeBlock(line, data + at, (int)n);
        if (w < 0 || !strbuf_append(out, (const char *)line, (size_t)w) ||
            !strbuf_append(out, "\r\n", 2))
            return false;
    }
    return true;
}

/* Length of the longest prefix of s[0..len) with at most max bytes that ends on a UTF-8
 * character boundary. */
static size_t utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static bool plain_ascii(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return false;
    return true;
}

/* "Subject: ..." with CRLF: as is when short printable ASCII, else encoded-words. */
static bool append_subject(struct strbuf *out, const char *subject)
{
    size_t len = strlen(subject);
    if (plain_ascii(subject) && len <= PLAIN_SUBJECT_MAX && !strstr(subject, "=?"))
        return strbuf_printf(out, "Subject: %s\r\n", subject);
    if (!strbuf_append(out, "Subject:", 8))
        return false;
    for (size_t at = 0; at < len;) {
        size_t n = utf8_prefix(subject + at, len - at, ENCODED_WORD_BYTES);
        unsigned char b64[4 * ((ENCODED_WORD_BYTES + 2) / 3) + 1];
        int w = EVP_EncodeBlock(b64, (const unsigned char *)subject + at, (int)n);
        if (w < 0 || !strbuf_printf(out, "%s=?UTF-8?B?%s?=", at ? "\r\n " : " ", b64))
            return false;
        at += n;
    }
    return strbuf_append(out, "\r\n", 2);
}

static void rfc5322_date(time_t t, char *out, size_t outlen)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- the plain text ---- */

/* Appends "name: value" for one field; objects and arrays as compact JSON. */
static bool append_field(struct strbuf *text, const char *name, const json_t *v)
{
    char buf[VALUE_TEXT_MAX];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return strbuf_printf(text, "%s: ", name) &&
               strbuf_append(text, json_string_value(v), json_string_length(v)) &&
               strbuf_append(text, "\n", 1);
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, sizeof buf, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(buf, sizeof buf, "yes");
        break;
    case JSON_FALSE:
        snprintf(buf, sizeof buf, "no");
        break;
    case JSON_NULL:
        snprintf(buf, sizeof buf, "(not given)");
        break;
    default: {
        char *dump = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
        bool ok = dump && strbuf_printf(text, "%s: %s\n", name, dump);
        free(dump);
        return ok;
    }
    }
    return strbuf_printf(text, "%s: %s\n", name, buf);
}

static bool known_payload_key(const char *name)
{
    for (size_t i = 0; i < sizeof payload_keys / sizeof payload_keys[0]; i++)
        if (strcmp(payload_keys[i], name) == 0)
            return true;
    return false;
}

/* The consent line, or false with err when consent is recorded as not given. */
static bool append_consent(struct strbuf *text, const json_t *consent, char *err, size_t errlen)
{
    if (!consent)
        return true;
    const json_t *given = json_is_object(consent) ? json_object_get(consent, "given") : consent;
    if (!json_is_true(given)) {
        snprintf(err, errlen, "the resident's consent to this referral is not recorded as given");
        return false;
    }
    const char *when = json_string_value(json_object_get(consent, "recorded_at"));
    const char *statement = json_string_value(json_object_get(consent, "statement"));
    return strbuf_printf(text, "Consent: given%s%s\n", when ? ", recorded " : "",
                         when ? when : "") &&
           (!statement || strbuf_printf(text, "Consent statement: %s\n", statement));
}

static bool build_text(struct strbuf *text, const json_t *doc, const char *reference, char *err,
                       size_t errlen)
{
    const char *service = json_string_value(json_object_get(doc, "service"));
    const char *partner = json_string_value(json_object_get(doc, "partner"));
    const json_t *fields = json_object_get(doc, "fields");
    if (fields && !json_is_object(fields)) {
        snprintf(err, errlen, "the stored request's fields are not an object");
        return false;
    }
    if (!strbuf_printf(text, "Reference: %s\n", reference) ||
        (service && !strbuf_printf(text, "Service: %s\n", service)) ||
        (partner && !strbuf_printf(text, "For: %s\n", partner)))
        goto too_big;
    if (!append_consent(text, json_object_get(doc, "consent"), err, errlen))
        return false;
    if (!strbuf_append(text, "\nDetails\n-------\n", 17))
        goto too_big;
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)(fields ? fields : doc), name, v)
    {
        if (!fields && known_payload_key(name))
            continue;
        if (!append_field(text, name, v))
            goto too_big;
    }
    if (!strbuf_printf(text,
                       "\nSent by onestop for the council's counters. Please quote "
                       "reference %s in any reply.\n",
                       reference))
        goto too_big;
    return true;
too_big:
    snprintf(err, errlen, "the message text is longer than %d bytes", TEXT_MAX);
    return false;
}

/* ---- the message ---- */

static bool append_headers(struct strbuf *m, const struct backend_config *be, const char *subject,
                           const char *reference, const char *message_id, time_t date)
{
    char when[DATE_MAX];
    rfc5322_date(date, when, sizeof when);
    if (!strbuf_printf(m, "From: %s\r\nTo: ", be->mail_from))
        return false;
    size_t i;
    const json_t *to;
    json_array_foreach(be->mail_to, i, to)
    {
        if (!strbuf_printf(m, "%s%s", i ? ",\r\n " : "", json_string_value(to)))
            return false;
    }
    return strbuf_append(m, "\r\n", 2) && append_subject(m, subject) &&
           strbuf_printf(m,
                         "Date: %s\r\nMessage-ID: %s\r\nX-Onestop-Reference: %s\r\n"
                         "MIME-Version: 1.0\r\n",
                         when, message_id, reference);
}

static bool append_text_part_headers(struct strbuf *m)
{
    return strbuf_printf(m, "Content-Type: text/plain; charset=UTF-8\r\n"
                            "Content-Transfer-Encoding: quoted-printable\r\n");
}

bool email_message_build(const struct backend_config *be, const char *payload,
                         const char *idempotency_key, time_t date, char **out, size_t *out_len,
                         char *err, size_t errlen)
{
    bool ok = false;
    struct strbuf text, m;
    strbuf_init(&text, TEXT_MAX);
    strbuf_init(&m, EMAIL_MESSAGE_MAX);
    char message_id[EMAIL_MESSAGE_ID_MAX];
    char subject[EMAIL_SUBJECT_MAX + EMAIL_REFERENCE_MAX + 16];
    json_t *doc = payload ? json_loads(payload, 0, NULL) : NULL;
    *out = NULL;
    *out_len = 0;
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "the stored request is not a JSON object");
        goto out;
    }
    if (!be->mail_from || !json_is_array(be->mail_to) || json_array_size(be->mail_to) == 0) {
        snprintf(err, errlen, "the back-end has no mail_from or mail_to");
        goto out;
    }
    const char *reference = json_string_value(json_object_get(doc, "reference"));
    /* letters, digits, '-': safe in a header and in the attachment's file name */
    if (!reference || strlen(reference) > EMAIL_REFERENCE_MAX ||
        !dotted_atoms(reference, strlen(reference), "-_")) {
        snprintf(err, errlen, "the stored request has no usable reference");
        goto out;
    }
    const json_t *subj = json_object_get(doc, "subject");
    const char *service = json_string_value(json_object_get(doc, "service"));
    if (subj && (!json_is_string(subj) || json_string_length(subj) == 0)) {
        snprintf(err, errlen, "the subject is not text");
        goto out;
    }
    if (subj) {
        if (json_string_length(subj) > EMAIL_SUBJECT_MAX) {
            snprintf(err, errlen, "the subject is longer than %d bytes", EMAIL_SUBJECT_MAX);
            goto out;
        }
        snprintf(subject, sizeof subject, "%s", json_string_value(subj));
    } else if (service && strlen(service) <= EMAIL_SUBJECT_MAX) {
        snprintf(subject, sizeof subject, "%s: %s", service, reference);
    } else {
        snprintf(subject, sizeof subject, "Request %s", reference);
    }
    /* a NUL inside a JSON string would cut the header short: refuse that too */
    if (!email_header_value_ok(subject) || (subj && strlen(subject) != json_string_length(subj))) {
        snprintf(err, errlen, "the subject holds a line break or another control character");
        goto out;
    }
    if (!email_message_id(idempotency_key, be->mail_from, message_id, sizeof message_id)) {
        snprintf(err, errlen, "no Message-ID can be made from the delivery's key");
        goto out;
    }
    if (!build_text(&text, doc, reference, err, errlen))
        goto out;

    bool attach = json_is_true(json_object_get(doc, "attach_json"));
    char boundary[BOUNDARY_MAX];
    /* the Message-ID's id part is unique per delivery and has no '"' */
    snprintf(boundary, sizeof boundary, "=_onestop_%.40s", message_id + 1);
    boundary[strcspn(boundary, "@>")] = '\0';
    if (!append_headers(&m, be, subject, reference, message_id, date))
        goto too_big;
    if (attach) {
        if (!strbuf_printf(&m,
                           "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
                           "This is a MIME message.\r\n\r\n--%s\r\n",
                           boundary, boundary))
            goto too_big;
    }
    if (!append_text_part_headers(&m) || !strbuf_append(&m, "\r\n", 2) ||
        !append_qp(&m, text.data, text.len))
        goto too_big;
    if (attach) {
        if (!strbuf_printf(&m,
                           "\r\n--%s\r\nContent-Type: application/json; charset=UTF-8; "
                           "name=\"%s.json\"\r\nContent-Disposition: attachment; "
                           "filename=\"%s.json\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
                           boundary, reference, reference) ||
            !append_base64_lines(&m, (const unsigned char *)payload, strlen(payload)) ||
            !strbuf_printf(&m, "--%s--\r\n", boundary))
            goto too_big;
    } else if (m.len >= 2 && memcmp(m.data + m.len - 2, "\r\n", 2) != 0) {
        if (!strbuf_append(&m, "\r\n", 2))
            goto too_big;
    }
    *out = strbuf_take(&m, out_len);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    ok = true;
    goto out;
too_big:
    snprintf(err, errlen, "the message is longer than %d bytes", EMAIL_MESSAGE_MAX);
out:
    json_decref(doc);
    strbuf_free(&text);
    strbuf_free(&m);
    return ok;
}

const struct connector connector_email = {
    .name = "email",
};
