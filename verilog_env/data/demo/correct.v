// An equivalent rewrite: different style, a helper module, non-ANSI ports.
module counter(clk, reset, up, en, count, at_limit);
  input clk, reset, up, en;
  output [7:0] count;
  output at_limit;
  reg [7:0] value;
  wire [7:0] next;
  step s (.value(value), .up(up), .en(en), .next(next));
  always_ff @(posedge clk) value <= reset ? 8'd0 : next;
  assign count = value;
  assign at_limit = &value | ~|value;
endmodule

module step(input [7:0] value, input up, input en, output [7:0] next);
  assign next = !en ? value
              : up ? (value == 8'hFF ? value : value + 1'b1)
              : (value == 8'h00 ? value : value - 1'b1);
endmodule
