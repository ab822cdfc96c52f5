// In-process engine benchmarks on the shared documents in ../shared/bench (README there):
// W1 transitions/s, W2 external events/s, W3 sessions started/s and resident KiB per idle session.
// Run: build/ors_bench  (add --benchmark_repetitions=3 for medians).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <fstream>

#include "datamodel/ecmascript/ecmascript.h"
#include "scxml/parser.h"
#include "scxml/runtime.h"

namespace {

using namespace ors::scxml;

std::shared_ptr<const Document> load(const char* name) {
  ParseResult r = loadDocument(std::string(ORS_BENCH_DIR) + "/" + name);
  if (!r.document) {
    for (auto& e : r.errors) fprintf(stderr, "%s\n", e.str().c_str());
    std::abort();
  }
  return r.document;
}

ors::dm::Engine& engine() {
  static std::unique_ptr<ors::dm::Engine> e = ors::dm::makeEcmaScriptEngine();
  return *e;
}

size_t residentBytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void BM_W1_Transitions(benchmark::State& state) {
  auto doc = load("w1_ping.scxml");
  Runtime rt(&engine(), {});
  for (auto _ : state) {
    auto s = rt.startSession(doc);
    if (!s || !(*s)->finished()) state.SkipWithError("W1 did not finish in its initial macrostep");
    rt.runUntilIdle();
  }
  state.counters["transitions/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 100001, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_W1_Transitions)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_W2_ExternalEvents(benchmark::State& state) {
  auto doc = load("w2_external.scxml");
  Runtime rt(&engine(), {});
  constexpr int kEvents = 100000;
  for (auto _ : state) {
    auto s = rt.startSession(doc);
    std::string id = (*s)->id();
    for (int i = 0; i < kEvents; ++i) {
      Event e;
      e.name = "work";
      e.data = boost::json::object{{"n", i}};
      rt.deliver(id, std::move(e));
      if ((i & 1023) == 1023) rt.runUntilIdle();
    }
    Event stop;
    stop.name = "stop";
    rt.deliver(id, std::move(stop));
    rt.runUntilIdle();
    if (rt.find(id)) state.SkipWithError("W2 did not finish");
  }
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kEvents, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_W2_ExternalEvents)->Unit(benchmark::kMillisecond)->UseRealTime();

// W2 as the server runs it: events spread over N live sessions, each run to completion as it
// arrives (no batching), so per-event fixed costs and the sessions' memory footprint show.
void BM_W2_EventsAcrossSessions(benchmark::State& state) {
  auto doc = load("w2_external.scxml");
  Runtime rt(&engine(), {});
  std::vector<std::string> ids;
  for (int64_t i = 0; i < state.range(0); ++i) ids.push_back((*rt.startSession(doc))->id());
  rt.runUntilIdle();
  int64_t n = 0;
  for (auto _ : state) {
    Event e;
    e.name = "work";
    e.data = boost::json::object{{"n", 1}};
    rt.deliver(ids[static_cast<size_t>(n++ % state.range(0))], std::move(e));
    rt.runUntilIdle();
  }
  for (const std::string& id : ids) rt.terminate(id);
  rt.runUntilIdle();
  state.counters["events/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_W2_EventsAcrossSessions)->Arg(1)->Arg(2)->Arg(64)->Arg(1024)->UseRealTime();

void BM_W3_Sessions(benchmark::State& state) {
  auto doc = load("w3_small.scxml");
  constexpr int kSessions = 10000;
  double kibPerSession = 0;
  for (auto _ : state) {
    state.PauseTiming();
    {
      auto rt = std::make_unique<Runtime>(&engine(), Runtime::Options{});
      rt->startSession(doc);  // warm: compile the document's scripts once
      rt->runUntilIdle();
      size_t before = residentBytes();
      state.ResumeTiming();
      for (int i = 0; i < kSessions; ++i) rt->startSession(doc);
      rt->runUntilIdle();
      state.PauseTiming();
      size_t after = residentBytes();
      if (rt->sessionCount() != kSessions + 1) state.SkipWithError("sessions did not stay idle");
      kibPerSession = static_cast<double>(after - before) / 1024.0 / kSessions;
    }
    state.ResumeTiming();
  }
  state.counters["sessions/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kSessions, benchmark::Counter::kIsRate);
  state.counters["KiB/session"] = kibPerSession;
}
BENCHMARK(BM_W3_Sessions)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
