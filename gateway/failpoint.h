/* failpoint: named pauses that tests switch on to make a race happen every time.
 *
 * ONESTOP_FAILPOINTS="name=ms[,name=ms...]" in onestopd's environment makes failpoint(name)
 * sleep that many milliseconds on the calling thread. Without the variable (always, outside
 * tests) failpoint() is one load and a return. Names are listed where they are called; an
 * unknown name in the variable is ignored. Read once by failpoint_init, before any thread. */
#ifndef ONESTOP_FAILPOINT_H
#define ONESTOP_FAILPOINT_H

#define FAILPOINTS_MAX     8
#define FAILPOINT_NAME_MAX 48
#define FAILPOINT_MS_MAX   60000

void failpoint_init(void);
void failpoint(const char *name);

#endif
