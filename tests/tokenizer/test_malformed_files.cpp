// Bad vocabulary and merges files are errors that name the file and the problem.

#include <cstdint>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "byte_level_vocabulary.hpp"
#include "iglens/text/tokenizer.hpp"

using Catch::Matchers::Contains;

namespace {

const std::string kValidMerges = "#version: 0.2\nh i\n";

std::string valid_vocab() { return byte_level_vocab({"hi"}).dump(); }

// A byte-level vocabulary with one entry changed or added.
std::string vocab_with(const std::string& token, const nlohmann::json& id) {
  nlohmann::json vocab = byte_level_vocab({"hi"});
  vocab[token] = id;
  return vocab.dump();
}

}  // namespace

TEST_CASE("the valid files these tests start from load", "[tokenizer][files]") {
  const auto tokenizer = iglens::Tokenizer::from_strings(valid_vocab(), kValidMerges);
  CHECK(tokenizer.encode("hi") == std::vector<std::int64_t>{257});
}

TEST_CASE("a vocabulary that is not a JSON object of token ids is rejected", "[tokenizer][files]") {
  const auto load = [](const std::string& vocab) { return iglens::Tokenizer::from_strings(vocab, kValidMerges); };
  CHECK_THROWS_WITH(load(""), Contains("vocab.json: not valid JSON"));
  CHECK_THROWS_WITH(load("{\"a\": 1,"), Contains("vocab.json: not valid JSON"));
  // nlohmann reports this as out_of_range, not parse_error (found by fuzzing).
  CHECK_THROWS_WITH(load("{\"a\": 1e999}"), Contains("vocab.json: not valid JSON"));
  CHECK_THROWS_WITH(load("[1, 2]"), Contains("vocab.json: expected a JSON object mapping tokens to ids, found array"));
  CHECK_THROWS_WITH(load(vocab_with("hi", "7")), Contains("the id of token \"hi\" is \"7\", not an integer"));
  CHECK_THROWS_WITH(load(vocab_with("hi", 257.5)), Contains("the id of token \"hi\" is 257.5, not an integer"));
  CHECK_THROWS_WITH(load(vocab_with("hi", true)), Contains("not an integer"));
  CHECK_THROWS_WITH(load(vocab_with("hi", -1)),
                    Contains("token \"hi\" has id -1, out of range: 258 tokens need ids 0 to 257"));
  CHECK_THROWS_WITH(load(vocab_with("hi", 258)), Contains("token \"hi\" has id 258, out of range"));
  CHECK_THROWS_WITH(load(vocab_with("hi", UINT64_MAX)),
                    Contains("token \"hi\" has id 18446744073709551615, out of range"));
  CHECK_THROWS_WITH(load(vocab_with("hi", 5)), Contains("share id 5"));
  CHECK_THROWS_WITH(load(vocab_with("", 258)), Contains("the empty string is not a token"));
  CHECK_THROWS_WITH(load(vocab_with("h i", 258)),
                    Contains("token \"h i\" (id 258) contains U+0020, which is not one of the 256 "
                             "byte-level symbols"));
  CHECK_THROWS_WITH(load(vocab_with("\xE4\xB8\xAD", 258)), Contains("contains U+4E2D"));

  std::string repeated = valid_vocab();
  repeated.insert(1, "\"hi\": 300, ");
  CHECK_THROWS_WITH(load(repeated), Contains("token \"hi\" appears more than once"));

  nlohmann::json missing_byte = byte_level_vocab();
  missing_byte.erase("\xC4\x80");  // "Ā", the symbol of byte 0x00
  missing_byte["hi"] = 0;
  CHECK_THROWS_WITH(load(missing_byte.dump()),
                    Contains("no token \"\xC4\x80\" for byte 0x00; a byte-level vocabulary needs all "
                             "256 bytes"));
}

TEST_CASE("merges lines must be two known tokens whose join is known", "[tokenizer][files]") {
  const auto load = [](const std::string& merges) { return iglens::Tokenizer::from_strings(valid_vocab(), merges); };
  CHECK_THROWS_WITH(load("#version: 0.2\nhi\n"),
                    Contains("merges.txt: line 2: expected two tokens separated by a space, found "
                             "1 in \"hi\""));
  CHECK_THROWS_WITH(load("#version: 0.2\nh i x\n"),
                    Contains("line 2: expected two tokens") && Contains("found 3 in \"h i x\""));
  CHECK_THROWS_WITH(load("#version: 0.2\n\nh i\n"), Contains("line 2: expected two tokens") && Contains("found 0"));
  CHECK_THROWS_WITH(load("h i\nhi\n"), Contains("line 2: expected two tokens"));
  CHECK_THROWS_WITH(load("#version: 0.2\nh zz\n"),
                    Contains("merges.txt: line 2: right token \"zz\" is not in the vocabulary"));
  CHECK_THROWS_WITH(load("#version: 0.2\nzz i\n"), Contains("line 2: left token \"zz\""));
  CHECK_THROWS_WITH(load("#version: 0.2\nh i\ni h\n"),
                    Contains("line 3: merged token \"ih\" is not in the vocabulary"));
  CHECK_THROWS_WITH(load("#version: 0.2\nh i\nh  i\n"), Contains("line 3: merge \"h i\" repeats line 2"));
}

TEST_CASE("merges files may omit the version line and use CRLF line ends", "[tokenizer][files]") {
  const std::string vocab = valid_vocab();
  for (const std::string merges : {"h i", "h i\n", "#version: 0.2\r\nh i\r\n", "h\ti"}) {
    CHECK(iglens::Tokenizer::from_strings(vocab, merges).encode("hi") == std::vector<std::int64_t>{257});
  }
}

TEST_CASE("file errors name the file", "[tokenizer][files]") {
  const std::string directory = IGLENS_TEST_BINARY_DIR;
  const std::string vocab_path = directory + "/valid_vocab.json";
  const std::string merges_path = directory + "/valid_merges.txt";
  const std::string bad_path = directory + "/bad_file.txt";
  std::ofstream(vocab_path) << valid_vocab();
  std::ofstream(merges_path) << kValidMerges;
  std::ofstream(bad_path) << "h i x\n";

  CHECK(iglens::Tokenizer::from_files(vocab_path, merges_path).vocab_size() == 258);
  CHECK_THROWS_WITH(
      iglens::Tokenizer::from_files(directory + "/missing.json", merges_path),
      Contains("cannot read vocabulary file '" + directory + "/missing.json': No such file or directory"));
  CHECK_THROWS_WITH(iglens::Tokenizer::from_files(vocab_path, directory + "/missing.txt"),
                    Contains("cannot read merges file '" + directory + "/missing.txt'"));
  CHECK_THROWS_WITH(iglens::Tokenizer::from_files(bad_path, merges_path), Contains(bad_path + ": not valid JSON"));
  CHECK_THROWS_WITH(iglens::Tokenizer::from_files(vocab_path, bad_path),
                    Contains(bad_path + ": line 1: expected two tokens"));
}
