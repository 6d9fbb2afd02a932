using RlGaf.Engine.Text;

namespace RlGaf.Engine.Tests.Text;

public class TokenizerTests
{
    private static readonly Gpt2Tokenizer Tok = Gpt2Tokenizer.Shared;

    [Fact]
    public void Encodes_known_gpt2_ids()
    {
        // Ids of GPT-2's published vocabulary for this sentence.
        Assert.Equal([15496, 995, 11, 428, 3807, 373, 1049, 0], Tok.Encode("Hello world, this movie was great!"));
    }

    [Theory]
    [InlineData("Plain ASCII text.")]
    [InlineData("Ünïcödé — “quotes”, emoji 🎬🍿, CJK 映画はすばらしい, RTL שלום")]
    [InlineData("  leading and trailing spaces\n\ttabs  ")]
    [InlineData("\u0000\u0001 control bytes \u007f")]
    public void Round_trips_unicode(string text)
    {
        Assert.Equal(text, Tok.Decode(Tok.Encode(text)));
    }

    [Fact]
    public void Literal_end_of_text_in_user_text_stays_text()
    {
        var ids = Tok.Encode("a <|endoftext|> b");
        Assert.DoesNotContain(Gpt2Tokenizer.EndOfText, ids);
        Assert.Equal("a <|endoftext|> b", Tok.Decode(ids));
    }

    [Fact]
    public void Byte_token_ids_decode_to_their_byte()
    {
        for (int b = 0; b < 256; b++)
        {
            int id = Gpt2Tokenizer.ByteTokenId((byte)b);
            Assert.Equal([(byte)b], Tok.TokenBytes(id).ToArray());
        }
        Assert.Equal(256, Enumerable.Range(0, 256).Select(b => Gpt2Tokenizer.ByteTokenId((byte)b)).Distinct().Count());
    }

    [Fact]
    public void Compact_vocabulary_round_trips_and_falls_back_to_bytes()
    {
        var vocab = Vocabulary.BuildCompact(["The acting was superb.", "The plot was dull."]);
        Assert.True(vocab.Size < 300);
        Assert.Equal(Gpt2Tokenizer.EndOfText, vocab.ToGpt2(vocab.EndOfTextId));

        // Words the corpus used map to single compact ids, one per GPT-2 token.
        var known = vocab.Encode("The plot was superb.");
        Assert.Equal(Tok.Encode("The plot was superb.").Length, known.Length);

        // Unseen words and Unicode are spelled in byte tokens and still decode exactly.
        const string unseen = "Zany ünicode 🎬 film!";
        var ids = vocab.Encode(unseen);
        Assert.All(ids, id => Assert.InRange(id, 0, vocab.Size - 1));
        Assert.Equal(unseen, vocab.Decode(ids));
    }

    [Fact]
    public void Capped_compact_vocabulary_keeps_the_most_frequent_tokens_and_still_decodes_exactly()
    {
        var texts = Enumerable.Repeat("the the the film", 50).Append("a rare zebra quagmire").ToList();
        var capped = Vocabulary.BuildCompact(texts, maxSize: 257 + 3);
        Assert.Equal(260, capped.Size);
        var the = Tok.Encode(" the").Single();
        Assert.Single(capped.Encode(" the")); // frequent: one token
        Assert.Contains(the, capped.ToGpt2(capped.Encode(" the")));
        Assert.True(capped.Encode(" quagmire").Length > 1); // rare: spelled in bytes
        Assert.Equal("a rare zebra quagmire", capped.Decode(capped.Encode("a rare zebra quagmire")));
        Assert.Throws<ArgumentException>(() => Vocabulary.BuildCompact(texts, maxSize: 100));
    }

    [Fact]
    public void Compact_vocabulary_saved_and_reloaded_decodes_identically()
    {
        var dir = Directory.CreateTempSubdirectory("rlgaf-vocab-").FullName;
        try
        {
            var vocab = Vocabulary.BuildCompact(["One small corpus, with punctuation; and more words."]);
            vocab.Save(dir);
            var loaded = Vocabulary.Load(dir);
            Assert.Equal(vocab.Size, loaded.Size);
            var ids = Enumerable.Range(0, vocab.Size).ToArray();
            Assert.Equal(vocab.ToGpt2(ids), loaded.ToGpt2(ids));
            Assert.Equal(vocab.Decode(ids), loaded.Decode(ids));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Directory_without_vocabulary_file_is_full_gpt2()
    {
        var dir = Directory.CreateTempSubdirectory("rlgaf-vocab-").FullName;
        try
        {
            var v = Vocabulary.Load(dir);
            Assert.True(v.IsFull);
            Assert.Equal(50257, v.Size);
            Assert.Equal(50256, v.EndOfTextId);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Corrupt_vocabulary_file_names_the_file_and_field()
    {
        var dir = Directory.CreateTempSubdirectory("rlgaf-vocab-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, Vocabulary.FileName), """{"format":"rlgaf-compact-vocab/1","tokenizer":"gpt2","gpt2_ids":[1,2,3]}""");
            var e = Assert.Throws<InvalidDataException>(() => Vocabulary.Load(dir));
            Assert.Contains(Vocabulary.FileName, e.Message);
            Assert.Contains("gpt2_ids", e.Message);
            File.WriteAllText(Path.Combine(dir, Vocabulary.FileName), "{ not json");
            e = Assert.Throws<InvalidDataException>(() => Vocabulary.Load(dir));
            Assert.Contains(Vocabulary.FileName, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
