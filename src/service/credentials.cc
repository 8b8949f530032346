#include "service/credentials.h"

#include <jwt.h>
#include <sodium.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace tendril::service {
namespace {

constexpr size_t kMaxTokenLength = 8192;
constexpr size_t kMinKeyLength = 32;

struct JwtDeleter {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

Status invalidToken(const std::string& why) { return Status::Invalid("access token " + why); }

}  // namespace

Status initCredentials() {
  if (sodium_init() < 0) return Status(Code::kInternal, "libsodium could not be initialised");
  return Status::Ok();
}

Result<std::string> hashPassword(std::string_view password, HashCost cost) {
  if (password.size() < kMinPasswordLength || password.size() > kMaxPasswordLength) {
    return Status::Invalid("a password must have " + std::to_string(kMinPasswordLength) + " to " +
                           std::to_string(kMaxPasswordLength) + " characters");
  }
  const bool testing = cost == HashCost::kTesting;
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(
          hash, password.data(), password.size(),
          testing ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE,
          testing ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE,
          crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::Exhausted("not enough memory to hash a password");
  }
  return std::string(hash);
}

bool verifyPassword(std::string_view hash, std::string_view password) {
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES ||
      password.size() > kMaxPasswordLength) {
    return false;
  }
  const std::string terminated(hash);  // libsodium reads a NUL-terminated string
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

Result<std::string> signAccessToken(const TokenClaims& claims, std::string_view key) {
  if (key.size() < kMinKeyLength) {
    return Status::Invalid("the token key must have at least 32 bytes");
  }
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return Status::Exhausted("cannot allocate a token");
  JwtPtr jwt(raw);
  const bool ok =
      jwt_add_grant(jwt.get(), "sub", claims.subject.c_str()) == 0 &&
      jwt_add_grant(jwt.get(), "iss", claims.issuer.c_str()) == 0 &&
      jwt_add_grant(jwt.get(), "project", claims.project.c_str()) == 0 &&
      jwt_add_grant(jwt.get(), "role", claims.role.c_str()) == 0 &&
      jwt_add_grant(jwt.get(), "sid", claims.session.c_str()) == 0 &&
      jwt_add_grant_int(jwt.get(), "iat", claims.issued_at) == 0 &&
      jwt_add_grant_int(jwt.get(), "exp", claims.expires_at) == 0 &&
      jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(key.data()),
                  static_cast<int>(key.size())) == 0;
  if (!ok) return Status(Code::kInternal, "cannot build an access token");
  char* encoded = jwt_encode_str(jwt.get());
  if (encoded == nullptr) return Status(Code::kInternal, "cannot encode an access token");
  std::string token(encoded);
  free(encoded);  // NOLINT: allocated by libjwt with malloc
  return token;
}

Result<TokenClaims> verifyAccessToken(std::string_view token, std::string_view key,
                                      std::string_view issuer, int64_t now) {
  if (token.empty() || token.size() > kMaxTokenLength) return invalidToken("is malformed");
  if (key.size() < kMinKeyLength)
    return Status::Invalid("the token key must have at least 32 bytes");
  // Only the three-part compact form: "alg: none" tokens have an empty signature part and are
  // refused here already, whatever the library would do with them.
  const size_t first_dot = token.find('.');
  const size_t last_dot = token.rfind('.');
  if (first_dot == std::string_view::npos || first_dot == last_dot ||
      last_dot + 1 == token.size()) {
    return invalidToken("is malformed");
  }
  const std::string terminated(token);
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, terminated.c_str(), reinterpret_cast<const unsigned char*>(key.data()),
                 static_cast<int>(key.size())) != 0) {
    if (raw != nullptr) jwt_free(raw);
    return invalidToken("has a bad signature or is malformed");
  }
  JwtPtr jwt(raw);
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256)
    return invalidToken("uses an algorithm other than HS256");
  TokenClaims claims;
  for (auto [name, field] :
       {std::pair{"sub", &claims.subject}, std::pair{"iss", &claims.issuer},
        std::pair{"project", &claims.project}, std::pair{"role", &claims.role},
        std::pair{"sid", &claims.session}}) {
    const char* value = jwt_get_grant(jwt.get(), name);
    if (value == nullptr) return invalidToken(std::string("lacks the claim \"") + name + "\"");
    *field = value;
  }
  for (auto [name, field] :
       {std::pair{"iat", &claims.issued_at}, std::pair{"exp", &claims.expires_at}}) {
    errno = 0;
    const long value = jwt_get_grant_int(jwt.get(), name);
    if (errno != 0) return invalidToken(std::string("lacks the claim \"") + name + "\"");
    *field = value;
  }
  if (claims.subject.empty()) return invalidToken("has an empty subject");
  if (claims.issuer != issuer) return invalidToken("was issued by someone else");
  if (claims.expires_at <= now) return invalidToken("has expired");
  if (claims.issued_at > now + 60) return invalidToken("is issued in the future");
  return claims;
}

std::string randomSecret(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  std::string text(sodium_base64_ENCODED_LEN(bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                   '\0');
  sodium_bin2base64(text.data(), text.size(), raw.data(), raw.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  text.resize(text.find('\0'));
  return text;
}

std::string sha256Hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex);
}

bool equalSecrets(std::string_view a, std::string_view b) {
  // Compare fixed-size digests so neither the contents nor the lengths leak through timing.
  unsigned char da[crypto_hash_sha256_BYTES];
  unsigned char db[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(da, reinterpret_cast<const unsigned char*>(a.data()), a.size());
  crypto_hash_sha256(db, reinterpret_cast<const unsigned char*>(b.data()), b.size());
  return sodium_memcmp(da, db, sizeof da) == 0 && a.size() == b.size();
}

std::string newUuid() {
  unsigned char bytes[16];
  randombytes_buf(bytes, sizeof bytes);
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  char text[37];
  std::snprintf(text, sizeof text,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
                bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
  return std::string(text);
}

}  // namespace tendril::service
