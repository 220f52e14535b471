#pragma once
// Where the Kubernetes API server is and how lb proves who it is: read once
// from the pod's service-account mount (in-cluster) or from a kubeconfig
// file (a developer's machine, tests). The token may live in a file that
// rotates (projected service-account tokens are replaced about hourly): see
// token_source.

#include <cstdint>
#include <string>
#include <string_view>

namespace lb::kube {

struct credentials {
  std::string host;          // DNS name or IP literal (no brackets), as the server certificate names it
  std::uint16_t port = 443;
  std::string ca_pem;        // trust anchors for the API server; empty: the system's default paths
  std::string token;         // a fixed bearer token (kubeconfig `token`)
  std::string token_file;    // read (again) at every request when set; wins over `token`
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string namespace_;    // the pod's own namespace (in-cluster) or the context's; may be empty
};

// The in-cluster folder every pod with a service account has.
inline constexpr const char* service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";

// Thread: any (blocking file reads, getenv). Reads KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT and `dir`/{token,ca.crt,namespace}; the token is
// kept as `token_file` so a rotation is seen. Returns false with `why` when
// the variables are unset or the token or CA cannot be read; never throws.
bool from_in_cluster(credentials& out, std::string& why, const std::string& dir = service_account_dir);

// Thread: any (blocking). Reads kubeconfig `path` (YAML) for `context` (empty:
// its current-context): the cluster's https server URL, certificate-authority
// (a path, relative to the kubeconfig's folder) or certificate-authority-data
// (base64), and the user's token / tokenFile and client-certificate(-data) /
// client-key(-data). Returns false with `why` naming what is missing or wrong
// (http servers, exec/auth-provider plugins and unknown contexts are refused);
// never throws.
bool from_kubeconfig(credentials& out, std::string& why, const std::string& path, const std::string& context = {});

// Thread: any. Standard base64 (whitespace ignored); false on a bad character
// or length.
bool base64_decode(std::string_view in, std::string& out);

// Thread: any. `host`:`port` split from an https URL ("https://10.0.0.1:6443",
// "https://[fd00::1]", "https://api.example:443/"). False with `why` for any
// other scheme or a bad port.
bool parse_server_url(std::string_view url, std::string& host, std::uint16_t& port, std::string& why);

}  // namespace lb::kube
