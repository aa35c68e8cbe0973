/* Helpers shared by the printing unit tests (test_receipt*.c, test_qr.c, test_printer.c):
 * temporary folders, running poppler-utils and zbarimg with a time limit, PBM output,
 * a sample receipt, and an ESC/POS stream parser. Header-only (static inline) because
 * every tests/unit/test_*.c is its own program. */
#ifndef ONESTOP_TEST_RECEIPT_HELPERS_H
#define ONESTOP_TEST_RECEIPT_HELPERS_H

#include "printing/receipt.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TH_PATH_MAX     512
#define TH_OUTPUT_MAX   65536
#define TH_TOOL_TIMEOUT "60" /* seconds for any external tool */

/* An 80-ish character status URL in mixed case with a query: it must survive the QR
 * code byte for byte (libqrencode upper-cases unless casesensitive=1). */
#define TH_URL "https://onestop.stockport.gov.uk/r/RP-7K3M9Q2X?t=Xy7_aB3dEf9GhJkLmN0pQr"

static const struct receipt_line th_lines[] = {
    {"Residents' parking permit, zone H (12 months from 1 December 2026)", 4150},
    {"Visitor scratch cards x 3", 300},
};

static inline struct receipt th_sample(void)
{
    return (struct receipt){
        .council = "Stockport Council",
        .site = "Stockport Direct, Fred Perry House",
        .counter_id = "SD-01",
        .assistant_initials = "AB",
        .issued_at = 1784895900, /* 2026-07-24 12:25 UTC = 13:25 BST */
        .service_name = "Residents' parking permit",
        .reference = "RP-7K3M9Q2X",
        .lines = th_lines,
        .n_lines = 2,
        .total_pence = 4450,
        .payment = RECEIPT_PAYMENT_CASH,
        .tendered_pence = 5000,
        .change_pence = 550,
        .next_steps = "Your permit will be posted to you within 5 working days.\n"
                      "Display it on the windscreen.",
        .status_url = TH_URL,
        .footer = "Thank you. Stockport Council, Town Hall, Edward Street, Stockport SK1 3XE.",
    };
}

/* Makes a fresh temporary folder; its path goes into dir (TH_PATH_MAX bytes). */
static inline bool th_tmpdir(char *dir)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, TH_PATH_MAX, "%s/onestop-test-XXXXXX", base != NULL && *base ? base : "/tmp");
    return mkdtemp(dir) != NULL;
}

/* Removes a flat temporary folder and the files in it. */
static inline void th_rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) {
                continue;
            }
            char path[TH_PATH_MAX * 2];
            snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
            (void)remove(path);
        }
        closedir(d);
    }
    (void)rmdir(dir);
}

static inline bool th_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return false;
    }
    bool ok = fwrite(data, 1, len, f) == len;
    return (fclose(f) == 0) && ok;
}

/* Runs a shell command under `timeout`, capturing up to TH_OUTPUT_MAX-1 bytes of its
 * stdout into out (NUL-terminated; may be NULL). Returns the exit status, or -1. */
static inline int th_run(const char *cmd, char *out, size_t out_len)
{
    char full[TH_PATH_MAX * 8];
    snprintf(full, sizeof full, "timeout " TH_TOOL_TIMEOUT " %s", cmd);
    FILE *p = popen(full, "r");
    if (p == NULL) {
        return -1;
    }
    size_t n = 0;
    char sink[4096];
    for (;;) {
        char *dst = out != NULL && n + 1 < out_len ? out + n : sink;
        size_t room = out != NULL && n + 1 < out_len ? out_len - 1 - n : sizeof sink;
        size_t got = fread(dst, 1, room, p);
        if (got == 0) {
            break;
        }
        if (dst != sink) {
            n += got;
        }
    }
    if (out != NULL && out_len > 0) {
        out[n] = '\0';
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Decodes the QR code in an image file with zbarimg; its text goes into out, without
 * the trailing newline. Returns zbarimg's exit status (0 found, 4 none found). */
static inline int th_zbar(const char *image, char *out, size_t out_len)
{
    char cmd[TH_PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "zbarimg -q --raw --nodbus '%s'", image);
    int rc = th_run(cmd, out, out_len);
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
        out[--n] = '\0';
    }
    return rc;
}

/* Writes a 1-bit image (rows of (width+7)/8 bytes, MSB leftmost, 1 = black) as a
 * binary PBM, which uses the same bit order. */
static inline bool th_write_pbm(const char *path, const unsigned char *bits, int width, int height)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return false;
    }
    fprintf(f, "P4\n%d %d\n", width, height);
    size_t row = ((size_t)width + 7) / 8;
    bool ok = fwrite(bits, row, (size_t)height, f) == (size_t)height;
    return (fclose(f) == 0) && ok;
}

/* ---- ESC/POS parser for the tests ----
 * Walks the stream command by command. Knows exactly the commands the renderer may
 * send; anything else (or a truncated command) is an error. Printable bytes and LF
 * make up text lines; each line remembers the size (GS !) it was printed with. */

#define TH_ESCPOS_MAX_LINES 256
#define TH_ESCPOS_LINE_MAX  128

struct th_escpos {
    int inits;       /* ESC @ count */
    int code_page;   /* last ESC t n, -1 if none */
    bool init_first; /* the stream starts with ESC @ */
    bool cut_last;   /* the stream ends with GS V 66 n */
    int cut_count;
    int cut_feed;
    int images;
    int image_width_dots; /* of the last GS v 0 image */
    int image_height;
    unsigned char *image; /* its bits, (width+7)/8 bytes per row; free() it */
    int n_lines;
    char lines[TH_ESCPOS_MAX_LINES][TH_ESCPOS_LINE_MAX];
    unsigned char line_size[TH_ESCPOS_MAX_LINES]; /* GS ! value in force */
    char error[128];
};

static inline bool th_escpos_fail(struct th_escpos *e, const char *what, size_t at)
{
    snprintf(e->error, sizeof e->error, "%s at byte %zu", what, at);
    return false;
}

static inline bool th_escpos_parse(const unsigned char *p, size_t len, struct th_escpos *e)
{
    memset(e, 0, sizeof *e);
    e->code_page = -1;
    unsigned char size = 0;
    size_t col = 0;
    e->init_first = len >= 2 && p[0] == 0x1B && p[1] == '@';
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        e->cut_last = false;
        if (c == 0x1B) {
            if (i + 1 >= len) {
                return th_escpos_fail(e, "truncated ESC", i);
            }
            unsigned char cmd = p[i + 1];
            if (cmd == '@') {
                e->inits++;
                i += 2;
            } else if (cmd == 't' || cmd == 'a' || cmd == 'E' || cmd == 'd') {
                if (i + 2 >= len) {
                    return th_escpos_fail(e, "truncated ESC command", i);
                }
                if (cmd == 't') {
                    e->code_page = p[i + 2];
                }
                i += 3;
            } else {
                return th_escpos_fail(e, "unknown ESC command", i);
            }
        } else if (c == 0x1D) {
            if (i + 1 >= len) {
                return th_escpos_fail(e, "truncated GS", i);
            }
            unsigned char cmd = p[i + 1];
            if (cmd == '!') {
                if (i + 2 >= len) {
                    return th_escpos_fail(e, "truncated GS !", i);
                }
                size = p[i + 2];
                i += 3;
            } else if (cmd == 'V') {
                if (i + 3 >= len || p[i + 2] != 66) {
                    return th_escpos_fail(e, "unexpected GS V", i);
                }
                e->cut_count++;
                e->cut_feed = p[i + 3];
                i += 4;
                e->cut_last = i == len;
            } else if (cmd == 'v') {
                if (i + 8 > len || p[i + 2] != '0') {
                    return th_escpos_fail(e, "bad GS v 0", i);
                }
                int xbytes = p[i + 4] | (p[i + 5] << 8);
                int rows = p[i + 6] | (p[i + 7] << 8);
                size_t data = (size_t)xbytes * (size_t)rows;
                if (i + 8 + data > len) {
                    return th_escpos_fail(e, "truncated raster image", i);
                }
                free(e->image);
                e->image = malloc(data ? data : 1);
                if (e->image == NULL) {
                    return th_escpos_fail(e, "out of memory", i);
                }
                memcpy(e->image, p + i + 8, data);
                e->image_width_dots = xbytes * 8;
                e->image_height = rows;
                e->images++;
                i += 8 + data;
            } else {
                return th_escpos_fail(e, "unknown GS command", i);
            }
        } else if (c == 0x0A) {
            if (e->n_lines < TH_ESCPOS_MAX_LINES) {
                e->line_size[e->n_lines] = size;
                e->n_lines++;
            }
            col = 0;
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            return th_escpos_fail(e, "control byte in text", i);
        } else {
            if (e->n_lines < TH_ESCPOS_MAX_LINES && col + 1 < TH_ESCPOS_LINE_MAX) {
                e->lines[e->n_lines][col++] = (char)c;
                e->lines[e->n_lines][col] = '\0';
            }
            i++;
        }
    }
    return true;
}

/* Index of the first line containing needle, or -1. */
static inline int th_escpos_find(const struct th_escpos *e, const char *needle)
{
    for (int i = 0; i < e->n_lines; i++) {
        if (strstr(e->lines[i], needle) != NULL) {
            return i;
        }
    }
    return -1;
}

#endif
