/*
 * The gazetteer back-end (GET /gazetteer/addresses?postcode=...) and the address data
 * other back-ends check UPRNs against. The data is loaded once by init and read-only
 * afterwards, so the functions here need no lock.
 */
#ifndef ONESTOP_SIM_GAZETTEER_H
#define ONESTOP_SIM_GAZETTEER_H

#include <stdbool.h>
#include <stddef.h>

#define GAZETTEER_FILE         "gazetteer.json"
#define GAZETTEER_POSTCODE_MAX 16

/* True when `uprn` is an address in the loaded gazetteer. */
bool gazetteer_known_uprn(const char *uprn);

/* Upper-cases `in`, drops all white space and puts one space before the inward code
 * (the last three characters) into out. False when the result would not fit or is
 * shorter than five characters (no postcode can match then). */
__attribute__((warn_unused_result)) bool gazetteer_normalise_postcode(const char *in, char *out,
                                                                      size_t out_len);

#endif
