#pragma once
// `lb ingress translate`: the first step of a migration from ingress-nginx.
// Reads Ingress, IngressClass, Service, EndpointSlice and Secret manifests
// and prints the lb config they make, headed by a report per object.

namespace lb::ingress {

// Thread: main. `argc`/`argv` start after "lb ingress translate". Returns
// the exit status: 0 every Ingress served as written, 1 translated but some
// part unsupported or rejected (the report says which), 2 bad usage or an
// unreadable input.
int translate_command(int argc, char** argv);

}  // namespace lb::ingress
