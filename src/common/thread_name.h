// Names the calling thread as `top -H`, `ps -L`, perf and gdb show it (Linux keeps 15 bytes).
#pragma once

#include <pthread.h>

#include <string>

namespace ors {

inline void nameThread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace ors
