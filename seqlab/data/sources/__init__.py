"""Sources: where a DataModule's examples come from (files, Hugging Face, built-in), chosen in YAML by
``class_path``; one module per problem."""
