// SCXML document loading: XML -> typed Document (document.h), with a validation pass. Errors are
// collected, each with file, line and column; a document with any error is not returned.
// Thread-safe: no shared state (the Loader given must be safe for the calling thread).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "scxml/document.h"

namespace ors::scxml {

struct Diagnostic {
  std::string file;
  SourceLoc loc;
  std::string message;
  std::string str() const;  // "file:line:col: error: message"
};

// Fetches the text at an absolute URL or path (already resolved against the base).
using Loader = std::function<Result<std::string>(const std::string& url)>;

// Loads `file:` URLs and plain paths from the local file system, nothing else.
Result<std::string> loadLocalFile(const std::string& url);

// Resolves `ref` (relative or absolute, `file:` or plain path, http URL) against `base`, the URL
// or path of the referring document.
std::string resolveUrl(const std::string& base, const std::string& ref);

struct ParseOptions {
  std::string url;      // where the text came from: reported in diagnostics, base for src
  Loader loader = loadLocalFile;
  // Told the address (resolved against `url`) of each document the parsed one starts at run time
  // by a literal src, <invoke src="x"> or <session:start src="'x'">: a host that fetches
  // documents over the network fetches those with it.
  std::function<void(const std::string& url)> childDocument;
};

struct ParseResult {
  std::shared_ptr<const Document> document;  // null when there were errors
  std::vector<Diagnostic> errors;
};

ParseResult parseDocument(std::string_view text, const ParseOptions& options);
// Reads `url` with options.loader, then parses it (options.url is set to `url`).
ParseResult loadDocument(const std::string& url, ParseOptions options = {});

// A compiled document as stores keep it: its text, and when it loaded files while compiling
// (includes, <script src>, <data src>) those files' texts too, so that it compiles again the
// same (same hash) from the store alone, whatever became of the files since.
std::string storedSource(const Document& doc);
// Compiles what storedSource gave; files not in it come through options.loader.
ParseResult parseStored(std::string_view stored, const ParseOptions& options);

}  // namespace ors::scxml
