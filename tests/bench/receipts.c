/* bench-receipts: how fast receipts render on one thread.
 *
 *   bench-receipts [N]      (default 2000)
 *
 * Renders N 80 mm PDF receipts (with QR), N A4 PDF receipts and N ESC/POS receipts,
 * and encodes an 80-character status URL as a QR code N times. Prints one plain line
 * per measurement: "pdf-80mm receipts/s 812.3", "qr-encode us/op 52.1", ... Target:
 * at least 500 PDF receipts/s on one thread. */
#include "printing/qr.h"
#include "printing/receipt.h"
#include "printing/receipt_escpos.h"
#include "printing/receipt_pdf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_N 2000
#define MAX_N     1000000
/* 80 characters, like a real status URL with its token. */
#define URL_80 "https://onestop.stockport.gov.uk/r/RP-7K3M9Q2X?t=Xy7_aB3dEf9GhJkLmN0pQr5sTuVwXyZ"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct receipt_line LINES[] = {
    {"Residents' parking permit, zone H (12 months from 1 December 2026)", 4150},
    {"Visitor scratch cards x 3", 300},
};

static const struct receipt SAMPLE = {
    .council = "Stockport Council",
    .site = "Stockport Direct, Fred Perry House",
    .counter_id = "SD-01",
    .assistant_initials = "AB",
    .issued_at = 1784895900,
    .service_name = "Residents' parking permit",
    .reference = "RP-7K3M9Q2X",
    .lines = LINES,
    .n_lines = 2,
    .total_pence = 4450,
    .payment = RECEIPT_PAYMENT_CASH,
    .tendered_pence = 5000,
    .change_pence = 550,
    .next_steps = "Your permit will be posted to you within 5 working days.\n"
                  "Display it on the windscreen.",
    .status_url = URL_80,
    .footer = "Thank you. Stockport Council, Town Hall, Edward Street, Stockport SK1 3XE.",
};

enum kind { PDF_ROLL, PDF_A4, ESCPOS };

static int run(enum kind k, long n, const char *label)
{
    size_t bytes = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        unsigned char *out = NULL;
        size_t len = 0;
        bool ok = k == ESCPOS   ? receipt_render_escpos(&SAMPLE, &out, &len)
                  : k == PDF_A4 ? receipt_render_pdf(&SAMPLE, RECEIPT_PAPER_A4, &out, &len)
                                : receipt_render_pdf(&SAMPLE, RECEIPT_PAPER_ROLL_80MM, &out, &len);
        if (!ok) {
            fprintf(stderr, "bench-receipts: %s render failed\n", label);
            return 1;
        }
        bytes = len;
        free(out);
    }
    double dt = now_s() - t0;
    printf("%s receipts/s %.1f\n", label, (double)n / dt);
    printf("%s bytes %zu\n", label, bytes);
    return 0;
}

int main(int argc, char **argv)
{
    long n = DEFAULT_N;
    if (argc > 1) {
        char *end;
        errno = 0;
        n = strtol(argv[1], &end, 10);
        if (errno != 0 || *end != '\0' || n < 1 || n > MAX_N) {
            fprintf(stderr, "usage: bench-receipts [N (1..%d)]\n", MAX_N);
            return 2;
        }
    }
    if (strlen(URL_80) != 80) {
        fprintf(stderr, "bench-receipts: test URL is %zu characters\n", strlen(URL_80));
        return 1;
    }
    /* Warm up: font faces, fontconfig and cairo's caches are set up on first use. */
    double t0 = now_s();
    unsigned char *out = NULL;
    size_t len = 0;
    if (!receipt_render_pdf(&SAMPLE, RECEIPT_PAPER_ROLL_80MM, &out, &len)) {
        fprintf(stderr, "bench-receipts: first render failed\n");
        return 1;
    }
    free(out);
    printf("pdf-first-render ms %.2f\n", (now_s() - t0) * 1e3);

    int rc = run(PDF_ROLL, n, "pdf-80mm") | run(PDF_A4, n, "pdf-a4") | run(ESCPOS, n, "escpos");

    t0 = now_s();
    for (long i = 0; i < n; i++) {
        struct qr_matrix m;
        if (!qr_encode(URL_80, &m)) {
            fprintf(stderr, "bench-receipts: qr_encode failed\n");
            return 1;
        }
        qr_free(&m);
    }
    printf("qr-encode us/op %.1f\n", (now_s() - t0) * 1e6 / (double)n);
    receipt_pdf_shutdown();
    return rc;
}
