// Errors the server reports to clients, in OpenAI's JSON shape:
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
// with the HTTP status that goes with them.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace coreml::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, const std::string& message, std::string param = {},
           std::string type = "invalid_request_error")
      : std::runtime_error(message),
        status_(status),
        code_(std::move(code)),
        param_(std::move(param)),
        type_(std::move(type)) {}

  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::string& param() const { return param_; }
  const std::string& type() const { return type_; }

  nlohmann::json body() const {
    nlohmann::json error = {{"message", what()}, {"type", type_}};
    error["param"] = param_.empty() ? nlohmann::json(nullptr) : nlohmann::json(param_);
    error["code"] = code_.empty() ? nlohmann::json(nullptr) : nlohmann::json(code_);
    return {{"error", error}};
  }

 private:
  int status_;
  std::string code_, param_, type_;
};

// A request field that is present but wrong (400).
[[noreturn]] inline void invalid_field(const std::string& field, const std::string& what,
                                       const std::string& code = "invalid_value") {
  throw ApiError(400, code, "'" + field + "' " + what, field);
}

}  // namespace coreml::server
