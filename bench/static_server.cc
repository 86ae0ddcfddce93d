// bench/static_server: the static cell of bench/compare on whirl.
//
//     static_server --root DIR --port 8080 [--address 127.0.0.1] [--tls-cert F --tls-key F]
//
// Serves DIR under /static/ through StaticFileHandler, as an application
// gets it: an Application with the handler mounted, access log off,
// compress_response off (the loaders ask for no gzip either way).
#include <fmt/core.h>

#include <memory>
#include <string>
#include <system_error>

#include "bench/bench_server.h"
#include "examples/server_flags.h"
#include "whirl/http/httpserver.h"
#include "whirl/http/static_file_handler.h"
#include "whirl/http/web.h"

int main(int argc, char** argv) {
  std::string root;
  examples::ServerFlags flags = examples::ServerFlags::parse(
      argc, argv, "static_server", "--root DIR",
      [&](const examples::ServerFlags&, std::string_view arg, const std::function<const char*()>& value) {
        if (arg != "--root") return false;
        root = value();
        return true;
      });
  if (root.empty()) flags.usage("--root DIR is required");
  std::shared_ptr<whirl::StaticFiles> files;
  try {
    files = std::make_shared<whirl::StaticFiles>(whirl::StaticFileOptions{.path = root});
  } catch (const std::system_error& e) {
    flags.usage(fmt::format("--root {}: {}", root, e.code().message()));
  }
  whirl::Application app({.access_log = false});
  app.add_handler<whirl::StaticFileHandler>("/static/{path:.*}", files);
  whirl::HTTPServer server(app, {.ssl_options = flags.ssl_options()});
  bench::listen(server, flags);
  fmt::print("static_server: serving {} at http{}://{}:{}/static/\n", root, flags.tls_cert.empty() ? "" : "s",
             flags.address.empty() ? "127.0.0.1" : flags.address, server.addresses().front().port());
  std::fflush(stdout);
  bench::serve_until_drained(server, flags.processes);
  return 0;
}
