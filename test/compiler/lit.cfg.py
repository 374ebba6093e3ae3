# lit configuration for the dsm-clang tests (test/compiler/CMakeLists.txt
# passes the build paths as --param). RUN lines call dsm-clang, dsm-clang++,
# dsm-run, FileCheck, not and llvm-objdump from PATH.
import os
import lit.formats

config.name = 'dsmkit-compiler'
config.test_format = lit.formats.ShTest(True)
config.suffixes = ['.c', '.cc', '.test']
config.excludes = ['CMakeLists.txt', 'Inputs', 'driver_command_test.cc']
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = lit_config.params.get('exec_root', config.test_source_root)

dsm_bin = lit_config.params['dsm_bin']
build_dir = lit_config.params['build_dir']
config.environment['PATH'] = os.pathsep.join(
    [dsm_bin, '/usr/lib/llvm-14/bin', os.environ.get('PATH', '/usr/bin:/bin')])
for var in ('HOME', 'TMPDIR', 'DSM_LOG'):
  if var in os.environ:
    config.environment[var] = os.environ[var]
config.substitutions.append(('%dsm_bin', dsm_bin))
config.substitutions.append(('%build_dir', build_dir))
config.substitutions.append(('%dsm_lib', os.path.join(os.path.dirname(dsm_bin), 'lib')))
