/* Linked statically into every dsmkit program (libdsm_main.a), together
 * with -Wl,--wrap=main: the C library's start code then calls __wrap_main,
 * which hands the program's real main to the runtime. It lives outside
 * libdsm.so because __real_main can only be resolved when the program
 * itself is linked. */
typedef int (*dsm_main_fn)(int, char **, char **);

int __real_main(int argc, char **argv, char **envp);
_Noreturn void __dsm_start(dsm_main_fn main, int argc, char **argv, char **envp);

int __wrap_main(int argc, char **argv, char **envp) {
  __dsm_start(__real_main, argc, argv, envp);
}
