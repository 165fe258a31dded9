"""File readers: text, CoNLL, labelled and parallel tables, embeddings, word lists, audio and speech
manifests. Each refuses bad input with a DataError naming the file and line."""
