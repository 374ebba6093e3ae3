/* Linked statically into every dsmkit program (libdsm_main.a), together
 * with -Wl,--wrap=main: the C library's start code then calls __wrap_main,
 * which hands the program's real main to the runtime. It lives outside
 * libdsm.so because __real_main can only be resolved when the program
 * itself is linked.
 *
 * Its constructor runs before the program's own (priority 101, the first
 * one programs may use) and tells the runtime where the program's shared
 * globals are: dsm_globals.ld defines the window's bounds, and the linker
 * defines __start_/__stop_ symbols for the sections dsm_shared_data and
 * dsm_shared_bss when the program has them. All are null when absent. */
typedef int (*dsm_main_fn)(int, char **, char **);

int __real_main(int argc, char **argv, char **envp);
_Noreturn void __dsm_start(dsm_main_fn main, int argc, char **argv, char **envp);
void __dsm_init(char *window_begin, char *window_end, char *data_end, char *any_section);

extern char __dsm_window_begin[] __attribute__((weak));
extern char __dsm_window_end[] __attribute__((weak));
extern char __start_dsm_shared_data[] __attribute__((weak));
extern char __stop_dsm_shared_data[] __attribute__((weak));
extern char __start_dsm_shared_bss[] __attribute__((weak));

__attribute__((constructor(101))) static void dsm_init(void) {
  char *any = __start_dsm_shared_data ? __start_dsm_shared_data : __start_dsm_shared_bss;
  char *data_end = __stop_dsm_shared_data ? __stop_dsm_shared_data : __dsm_window_begin;
  __dsm_init(__dsm_window_begin, __dsm_window_end, data_end, any);
}

int __wrap_main(int argc, char **argv, char **envp) {
  __dsm_start(__real_main, argc, argv, envp);
}
