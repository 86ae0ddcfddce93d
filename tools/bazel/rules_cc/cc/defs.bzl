"""Re-exports Bazel 4's native C++ rules under @rules_cc//cc:defs.bzl.

Debian's bazel-rules-cc package targets newer Bazel releases (it needs
use_cpp_toolchain), so whirl carries this shim to build offline.
"""

def cc_binary(**kwargs):
    native.cc_binary(**kwargs)

def cc_library(**kwargs):
    native.cc_library(**kwargs)

def cc_test(**kwargs):
    native.cc_test(**kwargs)

def cc_toolchain(**kwargs):
    native.cc_toolchain(**kwargs)

def cc_toolchain_suite(**kwargs):
    native.cc_toolchain_suite(**kwargs)
