/* thread_name: names the calling thread (at most 15 characters, as Linux keeps), so `top -H`,
 * `perf report --sort comm` and /proc/<pid>/task/<tid>/comm tell onestopd's threads apart;
 * tests/bench/accept splits the CPU it measures by these names. */
#ifndef ONESTOP_THREAD_NAME_H
#define ONESTOP_THREAD_NAME_H

void thread_name_set(const char *name);

#endif
