#pragma once
// Declarations of the runtime types that headers of the planes name only by
// reference, so those headers need not pull in the worker.

namespace lb::runtime {
class worker;
class session_base;
struct worker_snapshot;
struct listener_snapshot;
}  // namespace lb::runtime
