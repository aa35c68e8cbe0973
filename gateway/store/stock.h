/* store_stock: stock kept per site (hearing aid battery packs, ...).
 *
 * A site's on-hand count of an item lives in one row that can never go below zero (a CHECK
 * and a guarded UPDATE), and every movement is kept: a sale takes stock inside the sale's own
 * database transaction (store_tx_stock_take), so the sale and the stock move together or not
 * at all, and since every write goes through the one writer thread two counters racing for
 * the last pack cannot both succeed. A supervisor records a delivery received.
 */
#ifndef ONESTOP_STORE_STOCK_H
#define ONESTOP_STORE_STOCK_H

#include "gateway/store/core.h"

#include <jansson.h>
#include <time.h>

/* Most packs one delivery may add; more is a typing mistake. */
#define STOCK_DELIVERY_MAX 10000L
/* Longest note on a delivery, in bytes. */
#define STOCK_NOTE_MAX 200

/* Takes quantity of item from site, inside a job's transaction, recording the movement
 * against the sale's reference. STORE_INVALID (nothing changed) when the site has fewer than
 * quantity on hand; STORE_UNAVAILABLE when the store failed. */
enum store_result store_tx_stock_take(struct store_tx *tx, const char *site, const char *item,
                                      long quantity, const char *reference, const char *staff,
                                      time_t now) STORE_MUSTCHECK;

/* Adds a delivery of quantity (1..STOCK_DELIVERY_MAX) to site's item, with the movement and an
 * audit entry, in one write; *on_hand receives the new count. */
enum store_result store_stock_receive(struct store *store, const char *site, const char *item,
                                      long quantity, const char *note, const char *staff,
                                      const char *counter, time_t now,
                                      long *on_hand) STORE_MUSTCHECK;

/* The count of item at site (0 when it was never stocked there). */
enum store_result store_stock_on_hand(struct store *store, const char *site, const char *item,
                                      long *on_hand) STORE_MUSTCHECK;

/* Every (site, item) row: a new array of {"site","item","on_hand"} in *out. */
enum store_result store_stock_all(struct store *store, json_t **out) STORE_MUSTCHECK;

#endif
