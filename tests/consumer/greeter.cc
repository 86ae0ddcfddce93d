// A consumer's server, built against @whirl//http:web from another workspace.
//
//     greeter PORT     serves GET /greet/{name} on 127.0.0.1:PORT
#include <cstdlib>
#include <string>

#include "whirl/http/httpserver.h"
#include "whirl/http/web.h"
#include "whirl/runtime/ioloop.h"

namespace {

class Greeter : public whirl::RequestHandler {
 public:
  whirl::Task<void> get() override {
    write("hello, " + std::string(path_arg("name")) + "\n");
    co_return;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  whirl::IOLoop loop;
  whirl::Application app;
  app.add_handler<Greeter>("/greet/{name}");
  whirl::HTTPServer server(app);
  server.listen(std::atoi(argv[1]), "127.0.0.1");
  loop.run();
}
