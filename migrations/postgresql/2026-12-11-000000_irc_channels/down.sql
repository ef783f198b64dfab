DROP TABLE irc_channels;
