/* thread_name: see thread_name.h. */
#include "gateway/thread_name.h"

#include <sys/prctl.h>

void thread_name_set(const char *name)
{
    /* PR_SET_NAME copies at most 16 bytes including the terminator; a longer name is cut */
    (void)prctl(PR_SET_NAME, name, 0, 0, 0);
}
