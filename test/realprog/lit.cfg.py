# lit configuration for the programs we did not write (test/realprog): Debian
# source packages fetched by scripts/fetch-test-sources, built unchanged with
# their own build systems. test/realprog/CMakeLists.txt passes the build paths
# as --param; RUN lines call dsm-clang, dsm-clang++, dsm-run, clang-14, make.
import os
import sys
import lit.formats

config.name = 'dsmkit-realprog'
config.test_format = lit.formats.ShTest(True)
config.suffixes = ['.test']
config.excludes = ['CMakeLists.txt', 'Inputs']
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = lit_config.params.get('exec_root', config.test_source_root)

dsm_bin = lit_config.params['dsm_bin']
source_dir = lit_config.params['source_dir']
config.environment['PATH'] = os.pathsep.join(
    [dsm_bin, '/usr/lib/llvm-14/bin', os.environ.get('PATH', '/usr/bin:/bin')])
# The sources' cache is found as scripts/fetch-test-sources finds it.
for var in ('HOME', 'TMPDIR', 'DSM_LOG', 'XDG_CACHE_HOME', 'DSM_TEST_SOURCES'):
  if var in os.environ:
    config.environment[var] = os.environ[var]
config.substitutions.append(
    ('%fetch_sources', os.path.join(source_dir, 'scripts', 'fetch-test-sources')))
config.substitutions.append(('%python', sys.executable))
