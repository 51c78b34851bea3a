// The Keras frontend's JSON reader (frontends/keras/json.h) on hand-written documents: values, escapes, Python's
// NaN / Infinity, key order, and errors that name the line and column (parse) or the JSON path (lookups).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "frontends/keras/json.h"

namespace faultline::keras {
namespace {

TEST(KerasJson, ParsesValuesInOrder) {
  auto doc = parse_json(R"( {"b": [1, -2.5e2, true, false, null], "a": {"s": "x\"\\\/\n\u00e9\ud83d\ude00"},
                            "n": NaN, "i": -Infinity} )",
                        "test");
  ASSERT_TRUE(doc.is_ok()) << doc.status().message();
  const JsonValue& v = doc.value();
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.members().size(), 4u);
  EXPECT_EQ(v.members()[0].first, "b");  // file order kept
  const JsonValue& b = *v.find("b");
  ASSERT_EQ(b.items().size(), 5u);
  EXPECT_EQ(b.items()[0].as_number(), 1.0);
  EXPECT_EQ(b.items()[1].as_number(), -250.0);
  EXPECT_TRUE(b.items()[2].as_bool());
  EXPECT_FALSE(b.items()[3].as_bool());
  EXPECT_TRUE(b.items()[4].is_null());
  EXPECT_EQ(v.find("a")->find("s")->as_string(), "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE(std::isnan(v.find("n")->as_number()));
  EXPECT_EQ(v.find("i")->as_number(), -INFINITY);
  EXPECT_EQ(v.find("missing"), nullptr);
}

TEST(KerasJson, ParseErrorsNameLineAndColumn) {
  auto doc = parse_json("{\"a\": 1,\n  \"b\" 2}", "config.json");
  ASSERT_FALSE(doc.is_ok());
  EXPECT_EQ(doc.status().message(), "config.json: line 2, column 7: expected ':'");
  EXPECT_FALSE(parse_json("[1, 2", "x").is_ok());
  EXPECT_FALSE(parse_json("\"abc", "x").is_ok());
  EXPECT_FALSE(parse_json("[1] 2", "x").is_ok());
  EXPECT_FALSE(parse_json("01x", "x").is_ok());
  EXPECT_FALSE(parse_json("", "x").is_ok());
  std::string deep(10000, '[');
  EXPECT_FALSE(parse_json(deep, "x").is_ok());  // refused, not a stack overflow
}

TEST(KerasJson, CursorErrorsNameThePath) {
  auto doc = parse_json(R"({"config": {"layers": [{"strides": [1, "2"], "units": 3.5, "size": 4}]}})", "model_config");
  ASSERT_TRUE(doc.is_ok());
  JsonCursor root(doc.value(), "model_config");
  auto layers = root.at("config").value().at("layers");
  ASSERT_TRUE(layers.is_ok());
  JsonCursor layer = layers.value().item(0);
  auto strides = layer.at("strides").value().as_int_tuple(2);
  ASSERT_FALSE(strides.is_ok());
  EXPECT_EQ(strides.status().message(), "model_config: config.layers[0].strides[1]: expected an integer, got a string");
  auto units = layer.at("units").value().as_int();
  EXPECT_EQ(units.status().message(), "model_config: config.layers[0].units: expected an integer");
  auto missing = layer.at("filters");
  EXPECT_EQ(missing.status().message(), "model_config: config.layers[0].filters: missing");
  auto size = layer.at("size").value().as_int_tuple(2);  // an integer stands for (n, n)
  ASSERT_TRUE(size.is_ok());
  EXPECT_EQ(size.value(), (std::vector<int64_t>{4, 4}));
  EXPECT_FALSE(layer.find("absent").has_value());
}

}  // namespace
}  // namespace faultline::keras
