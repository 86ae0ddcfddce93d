"""whirl's system dependencies, and how a consumer maps them to its own.

whirl links seven libraries it does not build. Each is reached through a
repository of its own, `@whirl_<name>//:<name>`, which by default wraps the
Debian package (headers in /usr/include, the library linked from the
system). A workspace that depends on whirl calls this from its WORKSPACE:

    local_repository(name = "whirl", path = "third_party/whirl")
    load("@whirl//:deps.bzl", "whirl_dependencies")
    whirl_dependencies()

and, to use its own builds instead of the system's, names their labels:

    whirl_dependencies(overrides = {
        "openssl": "@boringssl//:ssl",   # a BoringSSL-style OpenSSL
        "fmt": "@fmt//:fmt",
        "zlib": "@zlib//:zlib",
    })

An override repository is an alias to that label, so whirl's targets build
against it and nothing else changes. gtest and benchmark are testonly: only
whirl's tests and benchmarks reach them.
"""

# name -> (Debian package, linkopts, testonly)
_SYSTEM = {
    "liburing": ("liburing-dev", ["-luring"], False),
    "openssl": ("libssl-dev", ["-lssl", "-lcrypto"], False),
    "fmt": ("libfmt-dev", ["-lfmt"], False),
    "zlib": ("zlib1g-dev", ["-lz"], False),
    "nlohmann_json": ("nlohmann-json3-dev", [], False),  # header-only
    "gtest": ("libgtest-dev", ["-lgtest", "-lpthread"], True),
    "gtest_main": ("libgtest-dev", ["-lgtest_main", "-lgtest", "-lpthread"], True),
    "benchmark": ("libbenchmark-dev", ["-lbenchmark", "-lpthread"], True),
}

def _system_library_impl(ctx):
    name = ctx.attr.library
    if ctx.attr.actual:
        ctx.file("BUILD.bazel", """alias(
    name = "{name}",
    actual = "{actual}",
    visibility = ["//visibility:public"],
)
""".format(name = name, actual = ctx.attr.actual))
        return
    ctx.file("BUILD.bazel", """# {package}, from the system (whirl's deps.bzl).
cc_library(
    name = "{name}",
    linkopts = {linkopts},
    testonly = {testonly},
    visibility = ["//visibility:public"],
)
""".format(
        name = name,
        package = ctx.attr.package,
        linkopts = repr(ctx.attr.linkopts),
        testonly = "True" if ctx.attr.test_only else "False",
    ))

_system_library = repository_rule(
    implementation = _system_library_impl,
    attrs = {
        "library": attr.string(mandatory = True),
        "package": attr.string(),
        "linkopts": attr.string_list(),
        "test_only": attr.bool(),
        "actual": attr.string(doc = "a label to use instead of the system library"),
    },
    local = True,
)

def whirl_dependencies(overrides = {}):
    """Declares @whirl_<name> for each system library whirl uses.

    Args:
      overrides: library name ("openssl", "fmt", ...) -> the label to use
        instead of the Debian package. Unknown names are an error.
    """
    for name in overrides:
        if name not in _SYSTEM:
            fail("whirl_dependencies: no system dependency named %r (known: %s)" % (name, ", ".join(_SYSTEM.keys())))
    for name, (package, linkopts, testonly) in _SYSTEM.items():
        repo = "whirl_" + name
        if native.existing_rule(repo):
            continue
        _system_library(
            name = repo,
            library = name,
            package = package,
            linkopts = linkopts,
            test_only = testonly,
            actual = overrides.get(name, ""),
        )
