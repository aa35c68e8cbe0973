/* failpoint: see failpoint.h. */
#include "gateway/failpoint.h"

#include "gateway/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    char name[FAILPOINT_NAME_MAX];
    long ms;
} points[FAILPOINTS_MAX];
static int points_len;

void failpoint_init(void)
{
    const char *spec = getenv("ONESTOP_FAILPOINTS");
    points_len = 0;
    while (spec && *spec && points_len < FAILPOINTS_MAX) {
        const char *end = strchr(spec, ',');
        size_t len = end ? (size_t)(end - spec) : strlen(spec);
        const char *eq = memchr(spec, '=', len);
        if (eq && (size_t)(eq - spec) < FAILPOINT_NAME_MAX) {
            long ms = strtol(eq + 1, NULL, 10);
            if (ms > 0 && ms <= FAILPOINT_MS_MAX) {
                snprintf(points[points_len].name, FAILPOINT_NAME_MAX, "%.*s", (int)(eq - spec),
                         spec);
                points[points_len].ms = ms;
                log_msg(LOG_WARN, "failpoint", "test failpoint %s pauses %ld ms",
                        points[points_len].name, ms);
                points_len++;
            }
        }
        spec = end ? end + 1 : NULL;
    }
}

void failpoint(const char *name)
{
    for (int i = 0; i < points_len; i++)
        if (strcmp(points[i].name, name) == 0) {
            log_msg(LOG_INFO, "failpoint_reached", "%s: pausing %ld ms", name, points[i].ms);
            struct timespec ts = {points[i].ms / 1000, (points[i].ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
}
