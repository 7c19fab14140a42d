"""Tests of events.py's stream filtering: the poller delivers only what the
template's FilterCriteria let through, as Lambda's event source mapping does.
Run with the tools venv's Python (boto3, PyYAML): scripts/test.sh does."""
import datetime
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import events  # noqa: E402


def record(event_name, pk, sequence="1"):
    """A stream record as boto3's get_records returns it."""
    return {
        "eventID": f"id-{sequence}",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc),
            "Keys": {"pk": {"S": pk}, "sk": {"S": "x"}},
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


class TheTemplatesFilters(unittest.TestCase):
    def test_both_stream_functions_take_new_audit_items_only(self):
        for function in ("event-publisher", "cache-invalidator"):
            with self.subTest(function):
                patterns = events.stream_filters(events.TEMPLATE, function)
                self.assertTrue(patterns, "the template gives the mapping a filter")
                batch = [
                    record("INSERT", "AUDIT#2026-01-02#abc", "1"),
                    record("MODIFY", "AUDIT#2026-01-02#abc", "2"),
                    record("REMOVE", "AUDIT#2026-01-02#abc", "3"),
                    record("INSERT", "TOKEN#abcdefghijklmnop", "4"),
                    record("INSERT", "XAUDIT#", "5"),
                    record("INSERT", "AUDIT#2026-01-03#def", "6"),
                ]
                kept = events.deliverable(patterns, batch)
                self.assertEqual([r["dynamodb"]["SequenceNumber"] for r in kept], ["1", "6"])
                # Delivered as read, not as the JSON they were matched as.
                self.assertIsInstance(kept[0]["dynamodb"]["ApproximateCreationDateTime"], datetime.datetime)

    def test_a_function_without_a_stream_event_is_refused(self):
        with self.assertRaises(SystemExit):
            events.stream_filters(events.TEMPLATE, "whoami")

    def test_a_mapping_without_filter_criteria_delivers_everything(self):
        template = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: plain
    Properties:
      Events:
        Stream:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: LATEST
"""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
            file.write(template)
        try:
            patterns = events.stream_filters(file.name, "plain")
        finally:
            os.unlink(file.name)
        self.assertEqual(patterns, [])
        batch = [record("REMOVE", "TOKEN#x", "1"), record("INSERT", "AUDIT#y", "2")]
        self.assertEqual(events.deliverable(patterns, batch), batch)


class PatternMatching(unittest.TestCase):
    def check(self, pattern, value):
        return events.matches(pattern, value)

    def test_literals_compare_as_json_values(self):
        self.assertTrue(self.check({"a": ["x", "y"]}, {"a": "y"}))
        self.assertFalse(self.check({"a": ["x"]}, {"a": "X"}))
        self.assertTrue(self.check({"a": [1]}, {"a": 1.0}))
        self.assertFalse(self.check({"a": [1]}, {"a": "1"}))
        self.assertFalse(self.check({"a": [1]}, {"a": True}))
        self.assertTrue(self.check({"a": [None]}, {"a": None}))
        self.assertFalse(self.check({"a": [None]}, {}), "a missing field is not null")
        self.assertTrue(self.check({"a": ["x"]}, {"a": ["w", "x"]}), "any element of an array")

    def test_every_field_must_match_and_others_do_not_matter(self):
        pattern = {"a": ["x"], "b": {"c": ["y"]}}
        self.assertTrue(self.check(pattern, {"a": "x", "b": {"c": "y", "d": 1}, "e": 2}))
        self.assertFalse(self.check(pattern, {"a": "x", "b": {"c": "z"}}))
        self.assertFalse(self.check(pattern, {"a": "x"}))
        self.assertFalse(self.check(pattern, {"a": "x", "b": "y"}), "an object pattern needs an object")

    def test_operators(self):
        self.assertTrue(self.check({"a": [{"prefix": "AUDIT#"}]}, {"a": "AUDIT#1"}))
        self.assertFalse(self.check({"a": [{"prefix": "AUDIT#"}]}, {"a": "audit#1"}))
        self.assertFalse(self.check({"a": [{"prefix": "1"}]}, {"a": 12}), "prefix is for strings")
        self.assertTrue(self.check({"a": [{"suffix": ".png"}]}, {"a": "x.png"}))
        self.assertTrue(self.check({"a": [{"equals-ignore-case": "insert"}]}, {"a": "INSERT"}))
        self.assertTrue(self.check({"a": [{"anything-but": ["x", "y"]}]}, {"a": "z"}))
        self.assertFalse(self.check({"a": [{"anything-but": "x"}]}, {"a": "x"}))
        self.assertFalse(self.check({"a": [{"anything-but": "x"}]}, {}), "anything-but needs the field")
        self.assertFalse(self.check({"a": [{"anything-but": {"prefix": "T"}}]}, {"a": "TOKEN"}))
        self.assertTrue(self.check({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 5}))
        self.assertFalse(self.check({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 6}))
        self.assertFalse(self.check({"a": [{"numeric": ["=", 1]}]}, {"a": "1"}))
        self.assertTrue(self.check({"a": [{"exists": True}]}, {"a": 0}))
        self.assertFalse(self.check({"a": [{"exists": True}]}, {}))
        self.assertTrue(self.check({"a": [{"exists": False}]}, {}))
        self.assertTrue(self.check({"b": {"c": [{"exists": False}]}}, {}))

    def test_or(self):
        pattern = {"$or": [{"a": ["x"]}, {"b": ["y"]}]}
        self.assertTrue(self.check(pattern, {"b": "y"}))
        self.assertFalse(self.check(pattern, {"a": "y", "b": "x"}))

    def test_any_filter_of_several_delivers(self):
        patterns = [{"a": ["x"]}, {"a": ["y"]}]
        self.assertTrue(events.delivered(patterns, {"a": "y"}))
        self.assertFalse(events.delivered(patterns, {"a": "z"}))

    def test_what_is_not_understood_is_refused_not_delivered(self):
        with self.assertRaises(ValueError):
            self.check({"a": [{"cidr": "10.0.0.0/8"}]}, {"a": "10.0.0.1"})
        with self.assertRaises(ValueError):
            self.check({"a": "x"}, {"a": "x"})


if __name__ == "__main__":
    unittest.main()
