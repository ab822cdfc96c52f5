// The ECMAScript datamodel (SCXML Appendix B.2) on SpiderMonkey 102.
//
// One Engine = one JSContext with one hardened, deep-frozen global shared by every session the
// engine creates; a session is a JSM environment (`JS::NewJSMEnvironment`) on that global, so it
// costs a few hundred bytes and a few microseconds. Scripts and expressions are compiled once per
// document and engine. A per-engine watchdog thread interrupts any single evaluation that runs
// longer than `scriptBudget`; the heap of the engine is capped at `heapLimitBytes`.
//
// Threading: an Engine and all its DataModels belong to the thread that created the Engine.
// A thread holds at most one Engine at a time (SpiderMonkey: one JSContext per thread).
// Engines on different threads are independent.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include <boost/json/object.hpp>

#include "datamodel/datamodel.h"

namespace ors::dm {

struct EcmaOptions {
  // Longest time one evaluation (expression, condition, script, conversion) may run.
  // Zero disables the watchdog.
  std::chrono::milliseconds scriptBudget{1000};
  // GC heap limit of the engine's JSContext (JSGC_MAX_BYTES), shared by all its sessions.
  size_t heapLimitBytes = 512u << 20;
  // What the vendor's `_genesys.session` tells strategies (docs/dialect.md): {"server": {"name",
  // "cluster"}, "tenant", "tenantid", "lists": {list: {item: {key: value}}}, "specialDays": {table:
  // {day: "HH:MM-HH:MM" or ""}}}.
  boost::json::object vendor;
};

// Creates an engine bound to the calling thread. Initialises SpiderMonkey on first use.
// Returns nullptr if SpiderMonkey cannot be initialised or the thread already has an engine.
std::unique_ptr<Engine> makeEcmaScriptEngine(const EcmaOptions& options = {});

// Diagnostics (tests, benchmarks): bytes in the GC heap of an engine made by
// makeEcmaScriptEngine, after a full GC if `collectFirst`. Must be called on the engine's thread.
size_t ecmaGcHeapBytes(Engine& engine, bool collectFirst = true);

// A full, shrinking GC of an engine made by makeEcmaScriptEngine: after many sessions left it,
// its heap gives the memory back. Engine's thread only.
void ecmaShrink(Engine& engine);

}  // namespace ors::dm
