// `coreml download REPO [--revision R] [--include GLOB]... [--cache-dir DIR] [--quiet]`: fetches a
// Hugging Face model repository into the shared cache and prints the snapshot folder.
#include <iostream>
#include <memory>

#include "command.h"
#include "coreml/hub.h"

namespace coreml::cli {
namespace {

void register_download(CLI::App& app, const GlobalOptions& globals, Runner& selected) {
  struct Options {
    std::string repo;
    std::string revision;
    std::vector<std::string> include;
    std::string cache_dir;
    bool quiet = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "download",
      "Download a Hugging Face model repository into the cache shared with huggingface_hub and "
      "print its local folder (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, HF_HUB_OFFLINE apply)");
  cmd->add_option("repo", options->repo, "Repository id: org/name or org/name@revision")
      ->required();
  cmd->add_option("--revision", options->revision, "Branch, tag or commit (default: main)");
  cmd->add_option("--include", options->include,
                  "Only files matching this glob (fnmatch: * also matches /); repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--cache-dir", options->cache_dir, "Cache folder (default: $HF_HUB_CACHE)");
  cmd->add_flag("-q,--quiet", options->quiet, "No progress bar");
  cmd->callback([options, &selected] {
    selected = [options] {
      const hub::ModelReference reference = hub::parse_model_reference(options->repo);
      hub::DownloadOptions download;
      if (!reference.revision.empty()) download.revision = reference.revision;
      if (!options->revision.empty()) download.revision = options->revision;
      download.allow_patterns = options->include;
      download.cache_dir = options->cache_dir;
      download.show_progress = !options->quiet;
      std::cout << hub::snapshot_download(reference.repo_id, download) << "\n";
      return 0;
    };
  });
  (void)globals;
}

}  // namespace

COREML_CLI_COMMAND(90, register_download);

}  // namespace coreml::cli
