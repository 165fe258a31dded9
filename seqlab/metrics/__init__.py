"""Evaluation metrics shared by tasks; each matches a standard library's definition."""

from seqlab.metrics.spans import SpanCounts, extract_spans, span_types, tag_scheme, to_iob2

__all__ = ["SpanCounts", "extract_spans", "span_types", "tag_scheme", "to_iob2"]
