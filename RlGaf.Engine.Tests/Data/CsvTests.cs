using RlGaf.Engine.Data;

namespace RlGaf.Engine.Tests.Data;

/// <summary>The RFC 4180 reader (Sep underneath): fields, the line each record starts on, and the errors Sep itself lets pass.</summary>
public class CsvTests
{
    private static (int Line, string[] Fields)[] Parse(string text) => [.. Csv.Parse(text, "f.csv").Select(r => (r.Line, r.Fields))];

    [Fact]
    public void Crlf_lf_and_cr_all_end_records()
    {
        var r = Parse("a,b\r\nc,d\ne,f\rg,h");
        Assert.Equal([1, 2, 3, 4], r.Select(x => x.Line));
        Assert.Equal(["g", "h"], r[3].Fields);
    }

    [Fact]
    public void Quoted_line_breaks_stay_in_the_field_and_the_next_record_has_its_own_line()
    {
        var r = Parse("h\r\n\"one\r\ntwo\"\n\"three\nfour\rfive\"\r\nlast\n");
        Assert.Equal([1, 2, 4, 7], r.Select(x => x.Line));
        Assert.Equal("one\r\ntwo", r[1].Fields[0]);
        Assert.Equal("three\nfour\rfive", r[2].Fields[0]);
        Assert.Equal(["last"], r[3].Fields);
    }

    [Fact]
    public void Doubled_quotes_commas_and_empty_fields()
    {
        var r = Parse("\"say \"\"hi\"\", then go\",,\"\",\"\"\"\"\n");
        Assert.Equal(["say \"hi\", then go", "", "", "\""], r[0].Fields);
    }

    [Fact]
    public void Empty_text_header_only_and_blank_lines()
    {
        Assert.Empty(Parse(""));
        Assert.Empty(Parse("\n\r\n"));
        var header = Parse("review,sentiment\n").Single();
        Assert.Equal(1, header.Line);
        Assert.Equal(["review", "sentiment"], header.Fields);
        var blanks = Parse("\n\na,b\n\n\nc,d\n\n");
        Assert.Equal([3, 6], blanks.Select(x => x.Line));
    }

    [Fact]
    public void Rows_may_have_different_column_counts_for_the_caller_to_check()
    {
        var r = Parse("a,b\nc\nd,e,f\n");
        Assert.Equal([2, 1, 3], r.Select(x => x.Fields.Length));
    }

    /// <summary>The fields hold digits only, so the message (after "line N: ") must show none of them and no quote.</summary>
    [Theory]
    [InlineData("1,2\n3,\"4\n5\n6,7\n", 2, "unterminated quoted field")]
    [InlineData("1,2\n\"3\n4\",\"5\n", 3, "unterminated quoted field")]
    [InlineData("1,2\n\"3\n4\",\"5\"6\n", 3, "unexpected text after a closing quote")]
    [InlineData("1,2\n\"3\n4\n5\"6,7\n", 4, "unexpected text after a closing quote")]
    [InlineData("1,2\n3,4\"5\n", 2, "a quote inside an unquoted field")]
    [InlineData("1,2\r\n\"3\r\n4\",5\"6\r\n", 3, "a quote inside an unquoted field")]
    [InlineData("1\"2\"3\n", 1, "a quote inside an unquoted field")]
    [InlineData("\"\"\"\n", 1, "unterminated quoted field")]
    public void Malformed_quoting_names_file_and_line_but_not_the_text(string text, int line, string what)
    {
        var e = Assert.Throws<InvalidDataException>(() => Csv.Parse(text, "f.csv"));
        var prefix = $"f.csv: line {line}: ";
        Assert.StartsWith(prefix + what, e.Message);
        Assert.DoesNotContain(e.Message[prefix.Length..], c => char.IsDigit(c) || c == '"');
    }

    [Fact]
    public void A_quote_that_never_closes_in_a_large_file_is_named_with_the_line_its_record_starts_on()
    {
        // Sep refuses a row over 16M characters; an unclosed quote early in a big file makes one.
        var text = "review,sentiment\ngood,positive\n\"bad" + new string('x', 17_000_000) + ",negative\n";
        var e = Assert.Throws<InvalidDataException>(() => Csv.Parse(text, "f.csv"));
        Assert.StartsWith("f.csv: line 3: unterminated quoted field", e.Message);
        Assert.DoesNotContain("xxx", e.Message);
    }
}
