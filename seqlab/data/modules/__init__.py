"""The DataModules, one per problem, and what they share: the supervised base, batching, streams,
label sets and speech features."""
