/* document_rekey: `onestop keys rotate` for the documents (benefit evidence): every kept file
 * sealed under an older data key is resealed under the current one while the gateway runs.
 *
 * One file at a time: the plaintext streams from the old file (its tag checked before the
 * last piece) into <id>.reseal.part sealed under the current key, which is fsync'd and
 * swapped with <id>.doc in one step, the old file removed and the folder fsync'd; only then
 * is the document's key id updated in the store. A crash anywhere leaves <id>.doc whole and
 * readable (its header names its key, and both keys are configured during a rotation); the
 * next run finds the file already under the current key and only records it. A file the
 * gateway deletes meanwhile (purge, retention) stays deleted. */
#ifndef ONESTOP_DOCUMENT_REKEY_H
#define ONESTOP_DOCUMENT_REKEY_H

#include <stdbool.h>
#include <stdio.h>

struct store;
struct data_keys;

struct document_rekey_counts {
    long total;    /* documents recorded under an older key when the run began */
    long resealed; /* files resealed (or found already resealed) and recorded */
    long gone;     /* files deleted while the run went on */
    long failed;   /* files that could not be resealed (each named in progress) */
};

/* Reseals, batch ids a page, printing a progress line per page to progress. false when the
 * store failed (the counts say how far it got); failed files do not stop the run. */
bool document_rekey_all(struct store *store, const struct data_keys *keys, const char *dir,
                        int batch, FILE *progress, struct document_rekey_counts *out)
    __attribute__((warn_unused_result));

#endif
