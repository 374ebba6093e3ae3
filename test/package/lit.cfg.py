# lit configuration for the Debian package test (test/package/CMakeLists.txt
# passes the build paths as --param). RUN lines call cpack, dpkg-deb,
# lintian, FileCheck, not and llvm-readelf; dsmkit's own programs only from
# the unpacked package, never from the build tree (PATH leaves it out).
import os
import lit.formats

config.name = 'dsmkit-package'
config.test_format = lit.formats.ShTest(True)
config.suffixes = ['.test']
config.excludes = ['CMakeLists.txt']
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = lit_config.params.get('exec_root', config.test_source_root)

config.environment['PATH'] = os.pathsep.join(
    ['/usr/lib/llvm-14/bin', '/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'])
for var in ('HOME', 'TMPDIR', 'DSM_LOG'):
  if var in os.environ:
    config.environment[var] = os.environ[var]
config.substitutions.append(('%build_dir', lit_config.params['build_dir']))
config.substitutions.append(('%cpack', lit_config.params['cpack']))
config.substitutions.append(('%examples', os.path.join(config.test_source_root, '..', '..',
                                                       'examples')))
